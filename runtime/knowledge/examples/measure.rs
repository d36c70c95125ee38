//! Measures what loading the knowledge base costs, and shows what a question retrieves.
//!
//! `cargo run --release -p greenlight-knowledge --example measure [-- "a question" ...]`
//!
//! Prints the load time and the resident memory (Linux `VmRSS`) before loading, right after, and
//! after a few searches, so the index's share of the server's idle memory is visible.

use std::time::Instant;

use greenlight_knowledge::KnowledgeBase;

/// A `/proc/self/status` value in KiB.
fn status_kib(key: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(key))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Total resident memory, and its anonymous part (heap, stacks: what the index itself adds;
/// the rest is the binary's code and data paged in).
fn show(label: &str) {
    match (status_kib("VmRSS:"), status_kib("RssAnon:")) {
        (Some(total), Some(anon)) => {
            println!("{label:<16} RSS {total:>6} KiB (anonymous {anon:>6} KiB)")
        }
        _ => println!("{label:<16} RSS unknown (no /proc)"),
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    show("before load");
    let started = Instant::now();
    let kb = KnowledgeBase::load()?;
    let elapsed = started.elapsed();
    show("after load");
    println!("loaded {} passages in {elapsed:?}", kb.len());

    let questions: Vec<String> = std::env::args().skip(1).collect();
    let questions = if questions.is_empty() {
        vec![
            "how do I roll back a deployment".to_owned(),
            "what port is the test listener".to_owned(),
        ]
    } else {
        questions
    };
    for question in &questions {
        let started = Instant::now();
        let hits = kb.search(question, 5);
        println!("\n{question:?} ({:?})", started.elapsed());
        for hit in hits {
            println!("  {:>6.2}  {}  ({})", hit.score, hit.title, hit.source);
        }
    }
    show("after searches");
    Ok(())
}
