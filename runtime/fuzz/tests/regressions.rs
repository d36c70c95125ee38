//! Inputs the fuzz targets once failed on, kept as plain tests so they stay fixed. (None yet:
//! see BENCHMARKS.md "Reliability" for the runs and what they found.)

use greenlight_fuzz::{request, unsafe_html};

#[test]
fn an_empty_body_is_a_named_400() {
    let (status, _, body) = request("/api/chat", Some("application/json"), Vec::new());
    assert_eq!(status.as_u16(), 400, "{}", String::from_utf8_lossy(&body));
    assert_eq!(unsafe_html("<p>ok</p>"), None);
}
