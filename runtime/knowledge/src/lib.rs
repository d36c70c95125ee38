//! greenlight-knowledge
