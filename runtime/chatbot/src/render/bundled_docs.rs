//! The offline provider quotes the bundled docs (`docs/*.md`); their rendering must not change
//! unnoticed. Each document is rendered as written and as the offline provider quotes it (a
//! block quote), and compared with the HTML committed in `testdata/docs/`.
//!
//! After an intended change, regenerate with `GREENLIGHT_UPDATE_RENDER_SNAPSHOTS=1 cargo test -p
//! greenlight render::bundled_docs` and review the diff.

use std::path::PathBuf;

use greenlight_knowledge::corpus::DOCUMENTS;

use super::markdown_to_html;

const UPDATE_VAR: &str = "GREENLIGHT_UPDATE_RENDER_SNAPSHOTS";

/// `text` as a block quote, line by line, the way `provider::offline::compose` quotes passages.
fn quoted(text: &str) -> String {
    text.lines()
        .map(|line| {
            if line.is_empty() {
                ">".to_owned()
            } else {
                format!("> {line}")
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn snapshot_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("src/render/testdata/docs")
        .join(name)
}

#[test]
fn bundled_docs_render_as_committed() {
    let update = std::env::var_os(UPDATE_VAR).is_some();
    let mut checked = 0;
    for doc in DOCUMENTS {
        let stem = doc.path.trim_start_matches("docs/").trim_end_matches(".md");
        for (name, markdown) in [
            (format!("{stem}.html"), doc.markdown.to_owned()),
            (format!("{stem}.quoted.html"), quoted(doc.markdown)),
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
                doc.path,
                path.display()
            );
            checked += 1;
        }
    }
    assert_eq!(checked, DOCUMENTS.len() * 2);
    assert!(checked >= 14, "the docs are bundled");
}
