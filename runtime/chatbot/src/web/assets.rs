//! The page and its static files, embedded at compile time and served with an ETag.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::LazyLock;

use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

/// Every file the page loads. Adding a file here is all it takes to serve it.
const ASSETS: &[Asset] = &[
    Asset {
        name: "index.html",
        content_type: "text/html; charset=utf-8",
        body: include_bytes!("../../assets/index.html"),
    },
    Asset {
        name: "style.css",
        content_type: "text/css; charset=utf-8",
        body: include_bytes!("../../assets/style.css"),
    },
    Asset {
        name: "app.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../assets/app.js"),
    },
    Asset {
        name: "chat-stream.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../assets/chat-stream.js"),
    },
    Asset {
        name: "store.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../assets/store.js"),
    },
    Asset {
        name: "view.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../assets/view.js"),
    },
    Asset {
        name: "favicon.svg",
        content_type: "image/svg+xml",
        body: include_bytes!("../../assets/favicon.svg"),
    },
];

/// One ETag per file, computed once. It only has to be stable for one binary (both colours of a
/// deploy running the same image agree), so std's fixed-key hasher is enough; no crypto needed.
static ETAGS: LazyLock<Vec<HeaderValue>> = LazyLock::new(|| {
    ASSETS
        .iter()
        .map(|asset| {
            let mut hasher = DefaultHasher::new();
            asset.body.hash(&mut hasher);
            HeaderValue::try_from(format!("\"{:016x}\"", hasher.finish()))
                .unwrap_or(HeaderValue::from_static("\"0\""))
        })
        .collect()
});

/// Browsers revalidate on every load (a cheap 304), so after a blue/green switch a reload
/// never mixes a page from one version with scripts from the other.
const CACHE_CONTROL: HeaderValue = HeaderValue::from_static("no-cache");

pub async fn index(headers: HeaderMap) -> Response {
    serve("index.html", &headers)
}

pub async fn asset(Path(file): Path<String>, headers: HeaderMap) -> Response {
    // The page itself lives at `/` only.
    if file == "index.html" {
        return StatusCode::NOT_FOUND.into_response();
    }
    serve(&file, &headers)
}

fn serve(name: &str, request: &HeaderMap) -> Response {
    let Some(index) = ASSETS.iter().position(|asset| asset.name == name) else {
        return (StatusCode::NOT_FOUND, "no such asset").into_response();
    };
    let asset = &ASSETS[index];
    let etag = &ETAGS[index];
    let headers = [
        (header::ETAG, etag.clone()),
        (header::CACHE_CONTROL, CACHE_CONTROL),
    ];
    if matches_etag(request, etag) {
        return (StatusCode::NOT_MODIFIED, headers).into_response();
    }
    (
        headers,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static(asset.content_type),
        )],
        asset.body,
    )
        .into_response()
}

/// `If-None-Match` as RFC 9110 reads it: a list of tags, `*`, weak tags compared weakly.
fn matches_etag(request: &HeaderMap, etag: &HeaderValue) -> bool {
    let Some(ours) = etag.to_str().ok() else {
        return false;
    };
    request
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .any(|tag| tag == "*" || tag.trim_start_matches("W/") == ours)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_asset_has_a_distinct_etag() {
        let mut tags: Vec<_> = ETAGS.iter().collect();
        tags.sort_by_key(|tag| tag.as_bytes().to_vec());
        tags.dedup();
        assert_eq!(tags.len(), ASSETS.len());
    }

    #[test]
    fn if_none_match_lists_and_weak_tags() {
        let etag = HeaderValue::from_static("\"abc\"");
        let with = |value: &'static str| {
            let mut map = HeaderMap::new();
            map.insert(header::IF_NONE_MATCH, HeaderValue::from_static(value));
            matches_etag(&map, &etag)
        };
        assert!(with("\"abc\""));
        assert!(with("\"x\", W/\"abc\""));
        assert!(with("*"));
        assert!(!with("\"abd\""));
        assert!(!matches_etag(&HeaderMap::new(), &etag));
    }
}
