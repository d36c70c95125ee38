//! The documents agree with the repository: the layout table (docs/overview.md, which the other
//! documents link to) names only paths that exist, and docs/contract.md lists every error code as
//! the server's `ErrorCode` table defines it.

use std::collections::BTreeSet;
use std::path::Path;

use greenlight::ErrorCode;

fn repository() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

fn read(path: &str) -> String {
    std::fs::read_to_string(repository().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The cells of the first table after `heading` (a whole line such as `## Repository layout`),
/// header and separator left out.
fn table(markdown: &str, heading: &str) -> Vec<Vec<String>> {
    let section = markdown
        .split(&format!("\n{heading}\n"))
        .nth(1)
        .unwrap_or_else(|| panic!("no {heading:?} section"));
    section
        .lines()
        .skip_while(|line| !line.starts_with('|'))
        .take_while(|line| line.starts_with('|'))
        .skip(2)
        .map(|row| {
            row.trim_matches('|')
                .split('|')
                .map(|cell| cell.trim().to_owned())
                .collect()
        })
        .collect()
}

/// The backquoted parts of a cell: `` `a`, `b` `` gives `a` and `b`.
fn quoted(cell: &str) -> impl Iterator<Item = &str> {
    cell.split('`').skip(1).step_by(2)
}

fn layout_paths(markdown: &str) -> Vec<String> {
    table(markdown, "## Repository layout")
        .iter()
        .flat_map(|row| quoted(&row[0]).map(str::to_owned).collect::<Vec<_>>())
        .collect()
}

#[test]
fn every_path_of_the_repository_layout_exists() {
    let paths = layout_paths(&read("docs/overview.md"));
    assert!(paths.len() >= 10, "too few paths found: {paths:?}");
    let missing: Vec<&String> = paths
        .iter()
        .filter(|path| !repository().join(path).exists())
        .collect();
    assert!(missing.is_empty(), "listed but missing: {missing:?}");
}

#[test]
fn the_layout_parser_reads_the_first_column_only() {
    let paths = layout_paths(
        "x\n## Repository layout\n\n| path | what |\n| --- | --- |\n| `a/b`, `c` | d `e` |\n",
    );
    assert_eq!(paths, ["a/b", "c"]);
}

#[test]
fn the_other_documents_link_to_the_layout_instead_of_repeating_it() {
    for doc in ["README.md", "docs/contract.md"] {
        let text = read(doc);
        assert!(
            text.contains("overview.md#repository-layout"),
            "{doc} links to the layout"
        );
        assert!(
            !text.contains("## Repository layout"),
            "{doc} has its own layout section"
        );
    }
}

type Row = (String, u16, String, bool);

#[test]
fn the_contract_lists_every_error_code_as_the_server_defines_it() {
    let documented: Vec<Row> = table(&read("docs/contract.md"), "### Error codes")
        .iter()
        .map(|cells| {
            let [code, status, kind, retryable, ..] = &cells[..] else {
                panic!("a short row: {cells:?}");
            };
            let retryable = match retryable.as_str() {
                "yes" => true,
                "no" => false,
                other => panic!("retryable is yes or no, not {other:?}"),
            };
            (
                code.trim_matches('`').to_owned(),
                status
                    .parse()
                    .unwrap_or_else(|_| panic!("status {status:?}")),
                kind.trim_matches('`').to_owned(),
                retryable,
            )
        })
        .collect();
    let unique: BTreeSet<&Row> = documented.iter().collect();
    assert_eq!(unique.len(), documented.len(), "a row is listed twice");
    let defined: BTreeSet<Row> = ErrorCode::ALL
        .iter()
        .map(|c| {
            (
                c.as_str().to_owned(),
                c.status().as_u16(),
                c.kind().as_str().to_owned(),
                c.retryable(),
            )
        })
        .collect();
    assert_eq!(
        documented.into_iter().collect::<BTreeSet<_>>(),
        defined,
        "docs/contract.md \"Error codes\" and ErrorCode disagree"
    );
}
