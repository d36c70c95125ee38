//! greenlight-smoke
