//! `multipart/byteranges` answers (RFC 9110 §14.6): several ranges of one file, each part
//! with its own `Content-Type` and `Content-Range`, between boundaries. The ranges are
//! those [`http::range`](super::http::range) accepted: at most
//! [`MAX_PARTS`](super::http::MAX_PARTS), in order and apart, so a body is never longer
//! than the file and its part heads.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use futures_util::StreamExt;

use super::{Opened, pieces, set};

/// The head of each part, then the closing delimiter.
fn heads(boundary: &str, ctype: &str, parts: &[(u64, u64)], len: u64) -> (Vec<Bytes>, Bytes) {
    let heads = parts
        .iter()
        .map(|(start, end)| {
            Bytes::from(format!(
                "--{boundary}\r\nContent-Type: {ctype}\r\nContent-Range: bytes {start}-{end}/{len}\r\n\r\n"
            ))
        })
        .collect();
    (heads, Bytes::from(format!("--{boundary}--\r\n")))
}

/// The `206` answer for `parts` of an opened file sent as `ctype`; `out` holds the headers
/// already chosen (validators, caching), `tag` the file's entity tag (the boundary is made
/// from it). No body for `HEAD`, the same `Content-Length`.
pub(super) fn answer(
    opened: Opened,
    parts: &[(u64, u64)],
    ctype: &str,
    tag: &str,
    head: bool,
    mut out: HeaderMap,
) -> Response {
    let boundary = format!("piwheels-byteranges-{tag}");
    let (heads, close) = heads(&boundary, ctype, parts, opened.len);
    let length = heads.iter().map(Bytes::len).sum::<usize>() as u64
        + parts.iter().map(|(s, e)| e - s + 1 + 2).sum::<u64>()
        + close.len() as u64;
    set(
        &mut out,
        header::CONTENT_TYPE,
        &format!("multipart/byteranges; boundary={boundary}"),
    );
    set(&mut out, header::CONTENT_LENGTH, &length.to_string());
    const CRLF: Bytes = Bytes::from_static(b"\r\n");
    let body = if head {
        Body::empty()
    } else if let Some(all) = opened.content {
        let mut buf = Vec::with_capacity(length as usize);
        for (h, (start, end)) in heads.iter().zip(parts) {
            buf.extend_from_slice(h);
            buf.extend_from_slice(&all[*start as usize..=*end as usize]);
            buf.extend_from_slice(&CRLF);
        }
        buf.extend_from_slice(&close);
        Body::from(buf)
    } else {
        let file = Arc::new(opened.file);
        let mut streams = Vec::new();
        for (h, (start, end)) in heads.into_iter().zip(parts) {
            streams.push(futures_util::stream::iter([Ok(h)]).boxed());
            streams.push(pieces(file.clone(), *start, end - start + 1).boxed());
            streams.push(futures_util::stream::iter([Ok(CRLF)]).boxed());
        }
        streams.push(futures_util::stream::iter([Ok(close)]).boxed());
        Body::from_stream(futures_util::stream::iter(streams).flatten())
    };
    let mut resp = Response::new(body);
    *resp.status_mut() = StatusCode::PARTIAL_CONTENT;
    out.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    *resp.headers_mut() = out;
    resp
}
