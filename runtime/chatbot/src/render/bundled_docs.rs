//! The offline provider quotes the bundled docs (`docs/*.md`); the raw-HTML fix (issue 11) must not
//! change how they render. `testdata/docs/*.md` is a frozen copy of the docs as they were before
//! that change, and `*.html` / `*.quoted.html` beside each is how the renderer of that time showed
//! it as written and as the offline provider quotes it (a block quote). A frozen copy, not the live
//! docs: editing a document must not fail a renderer test.
//!
//! After an intended rendering change, regenerate with `GREENLIGHT_UPDATE_RENDER_SNAPSHOTS=1 cargo
//! test -p greenlight render::bundled_docs` and review the diff.

use std::path::PathBuf;

use super::markdown_to_html;
use crate::provider::offline::compose::quote as quoted;

const UPDATE_VAR: &str = "GREENLIGHT_UPDATE_RENDER_SNAPSHOTS";

fn snapshot_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("src/render/testdata/docs")
        .join(name)
}

#[test]
fn bundled_docs_render_as_committed() {
    let update = std::env::var_os(UPDATE_VAR).is_some();
    let dir = snapshot_path("");
    let mut sources: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("read testdata/docs")
        .map(|entry| entry.expect("a testdata entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "md"))
        .collect();
    sources.sort();
    let mut checked = 0;
    for source in &sources {
        let markdown = std::fs::read_to_string(source).expect("read a frozen document");
        let stem = source
            .file_stem()
            .and_then(|stem| stem.to_str())
            .expect("a UTF-8 file name");
        for (name, markdown) in [
            (format!("{stem}.html"), markdown.clone()),
            (format!("{stem}.quoted.html"), quoted(&markdown)),
        ] {
            let html = markdown_to_html(&markdown);
            let path = snapshot_path(&name);
            if update {
                std::fs::write(&path, &html).expect("write the snapshot");
            }
            let committed = std::fs::read_to_string(&path).unwrap_or_else(|e| {
                panic!("{}: {e} (set {UPDATE_VAR}=1 to create it)", path.display())
            });
            assert!(
                html == committed,
                "{} renders differently from {}; if intended, regenerate with {UPDATE_VAR}=1 and review the diff",
                source.display(),
                path.display()
            );
            checked += 1;
        }
    }
    assert!(
        checked >= 14,
        "the frozen docs are there: {checked} snapshots"
    );
}
