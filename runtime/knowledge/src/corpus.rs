//! The documents the knowledge base is built from, embedded at compile time.
//!
//! `include_str!` makes `cargo build` track every file, so editing a document rebuilds the binary,
//! and the binary needs no file at run time. A test checks that every `docs/*.md` file is listed.

/// One embedded markdown document.
#[derive(Debug, Clone, Copy)]
pub struct Document {
    /// Repository-relative path, the prefix of every passage's source (`docs/deploy.md`).
    pub path: &'static str,
    pub markdown: &'static str,
}

macro_rules! doc {
    ($name:literal) => {
        Document {
            path: concat!("docs/", $name),
            markdown: include_str!(concat!("../../../docs/", $name)),
        }
    };
}

/// The project's own documentation, in the order a newcomer would read it.
pub const DOCUMENTS: &[Document] = &[
    doc!("overview.md"),
    doc!("deploy.md"),
    doc!("blue-green.md"),
    doc!("configuration.md"),
    doc!("operations.md"),
    doc!("ship.md"),
    doc!("contract.md"),
];

#[cfg(test)]
mod tests {
    use super::DOCUMENTS;

    #[test]
    fn every_markdown_file_in_docs_is_embedded() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs");
        let mut on_disk: Vec<String> = std::fs::read_dir(dir)
            .expect("docs/ is readable")
            .filter_map(|entry| entry.ok())
            .map(|entry| entry.file_name().to_string_lossy().into_owned())
            .filter(|name| name.ends_with(".md"))
            .map(|name| format!("docs/{name}"))
            .collect();
        on_disk.sort();
        let mut embedded: Vec<String> = DOCUMENTS.iter().map(|d| d.path.to_owned()).collect();
        embedded.sort();
        assert_eq!(on_disk, embedded, "add new docs to corpus::DOCUMENTS");
    }
}
