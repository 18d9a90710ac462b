//! Request bodies read whole with a size limit and a deadline, the same at both services. Over
//! the limit the rest of the upload is still read (and dropped, up to a bound) before the
//! answer, because a server that answers and closes with unread data in its socket makes the
//! kernel reset the connection: the client would see a broken upload instead of the 413.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;

use crate::RequestError;
use crate::content::BodyKind;

/// Why a body was not read whole.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error("the body is over the limit of {limit} bytes")]
    TooLarge { limit: usize },
    #[error("the body did not arrive within {} s", .0.as_secs())]
    TimedOut(Duration),
    #[error("the body could not be read: {0}")]
    Broken(String),
}

/// Largest HTTP body accepted for an image limit of `max_image_bytes`: base64 in JSON needs
/// 4/3 of the image size plus room for the rest of the object.
pub fn max_http_body(kind: BodyKind, max_image_bytes: usize) -> usize {
    match kind {
        BodyKind::RawImage => max_image_bytes,
        BodyKind::Json => max_image_bytes
            .div_ceil(3)
            .saturating_mul(4)
            .saturating_add(64 * 1024),
    }
}

/// [`read`] with the limit of [`max_http_body`], failures as the API names them: an upload
/// over its limit is refused with the image's limit, whatever form the image came in.
pub async fn read_request<B>(
    body: B,
    kind: BodyKind,
    max_image_bytes: usize,
    timeout: Duration,
) -> Result<Bytes, RequestError>
where
    B: http_body::Body<Data = Bytes> + Unpin,
    B::Error: std::fmt::Display,
{
    read(body, max_http_body(kind, max_image_bytes), timeout)
        .await
        .map_err(|e| match e {
            BodyError::TooLarge { .. } => RequestError::PayloadTooLarge {
                limit: max_image_bytes,
            },
            BodyError::TimedOut(timeout) => RequestError::BodyTimeout(timeout),
            BodyError::Broken(reason) => RequestError::UnreadableBody(reason),
        })
}

/// Reads `body` whole within `timeout`, refusing more than `limit` bytes. An over-limit
/// upload is drained for up to `limit` more bytes within what is left of the deadline, then
/// refused as too large (however the drain ends).
pub async fn read<B>(body: B, limit: usize, timeout: Duration) -> Result<Bytes, BodyError>
where
    B: http_body::Body<Data = Bytes> + Unpin,
    B::Error: std::fmt::Display,
{
    let deadline = tokio::time::Instant::now() + timeout;
    let mut body = body;
    let mut chunks: Vec<Bytes> = Vec::new();
    let mut received = 0usize;
    let reading = async {
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| BodyError::Broken(e.to_string()))?;
            let Ok(data) = frame.into_data() else {
                continue; // trailers
            };
            received = received.saturating_add(data.len());
            if received > limit {
                return Ok(false);
            }
            chunks.push(data);
        }
        Ok(true)
    };
    let within_limit = tokio::time::timeout_at(deadline, reading)
        .await
        .map_err(|_| BodyError::TimedOut(timeout))??;
    if !within_limit {
        chunks.clear();
        let _ = tokio::time::timeout_at(deadline, drain(&mut body, limit)).await;
        return Err(BodyError::TooLarge { limit });
    }
    Ok(match chunks.len() {
        // Most bodies arrive in one frame: no copy.
        1 => chunks.pop().unwrap_or_default(),
        _ => chunks.concat().into(),
    })
}

/// Reads and drops up to `limit` bytes of `body` within `timeout` (a request refused before
/// its body is read, say for overload, still gets its answer rather than a reset).
pub async fn discard<B>(body: B, limit: usize, timeout: Duration)
where
    B: http_body::Body<Data = Bytes> + Unpin,
{
    let mut body = body;
    let _ = tokio::time::timeout(timeout, drain(&mut body, limit)).await;
}

async fn drain<B>(body: &mut B, limit: usize)
where
    B: http_body::Body<Data = Bytes> + Unpin,
{
    let mut seen = 0usize;
    while let Some(Ok(frame)) = body.frame().await {
        seen = seen.saturating_add(frame.data_ref().map_or(0, Bytes::len));
        if seen > limit {
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;
    use std::pin::Pin;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::{Context, Poll};

    /// A body of `chunks` frames, then the end (or, when `stall`, nothing ever again);
    /// `taken` counts the frames read.
    struct Chunks {
        chunks: VecDeque<Bytes>,
        stall: bool,
        taken: Arc<AtomicUsize>,
    }

    impl http_body::Body for Chunks {
        type Data = Bytes;
        type Error = std::convert::Infallible;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
            match self.chunks.pop_front() {
                Some(chunk) => {
                    self.taken.fetch_add(1, Ordering::Relaxed);
                    Poll::Ready(Some(Ok(http_body::Frame::data(chunk))))
                }
                None if self.stall => Poll::Pending,
                None => Poll::Ready(None),
            }
        }
    }

    fn body(chunks: &[&'static [u8]], stall: bool) -> (Chunks, Arc<AtomicUsize>) {
        let taken = Arc::new(AtomicUsize::new(0));
        let body = Chunks {
            chunks: chunks.iter().map(|c| Bytes::from_static(c)).collect(),
            stall,
            taken: taken.clone(),
        };
        (body, taken)
    }

    const SECOND: Duration = Duration::from_secs(1);

    #[test]
    fn a_json_body_may_be_four_thirds_of_the_image_and_64_kib_more() {
        assert_eq!(max_http_body(BodyKind::RawImage, 300), 300);
        assert_eq!(max_http_body(BodyKind::Json, 300), 400 + 65_536);
        assert_eq!(max_http_body(BodyKind::Json, usize::MAX), usize::MAX);
    }

    #[tokio::test]
    async fn read_request_refuses_with_the_image_limit_and_names_timeouts() {
        let (over, _) = body(&[&[b'a'; 500]], false);
        let err = read_request(over, BodyKind::RawImage, 300, SECOND).await;
        assert_eq!(err, Err(RequestError::PayloadTooLarge { limit: 300 }));
        let (json, _) = body(&[&[b'a'; 500]], false);
        assert_eq!(
            read_request(json, BodyKind::Json, 300, SECOND)
                .await
                .map(|b| b.len()),
            Ok(500),
            "base64 of a 300-byte image takes 400 bytes and the JSON around it"
        );
        let (stalled, _) = body(&[b"abc"], true);
        let timeout = Duration::from_millis(50);
        let err = read_request(stalled, BodyKind::Json, 300, timeout).await;
        assert_eq!(err, Err(RequestError::BodyTimeout(timeout)));
    }

    #[tokio::test]
    async fn a_body_within_the_limit_arrives_whole() {
        let (one, _) = body(&[b"hello"], false);
        assert_eq!(read(one, 5, SECOND).await.unwrap(), "hello");
        let (many, _) = body(&[b"he", b"ll", b"o"], false);
        assert_eq!(read(many, 5, SECOND).await.unwrap(), "hello");
    }

    #[tokio::test]
    async fn an_upload_over_the_limit_is_drained_up_to_the_limit_again_then_refused() {
        let (over, taken) = body(&[b"abc", b"def", b"ghi", b"jkl", b"mno", b"pqr"], false);
        let err = read(over, 4, SECOND).await.unwrap_err();
        assert!(matches!(err, BodyError::TooLarge { limit: 4 }), "{err}");
        // 6 bytes refused the upload; 6 more exceed the drain bound: 4 of 6 frames read.
        assert_eq!(taken.load(Ordering::Relaxed), 4);
    }

    #[tokio::test]
    async fn an_upload_over_the_limit_that_then_stalls_is_still_too_large() {
        let (over, _) = body(&[b"abcdef"], true);
        let err = read(over, 4, Duration::from_millis(50)).await.unwrap_err();
        assert!(matches!(err, BodyError::TooLarge { limit: 4 }), "{err}");
    }

    #[tokio::test]
    async fn a_stalled_body_times_out_and_discard_gives_up_at_the_deadline() {
        let (stalled, _) = body(&[b"abc"], true);
        let err = read(stalled, 100, Duration::from_millis(50))
            .await
            .unwrap_err();
        assert!(matches!(err, BodyError::TimedOut(_)), "{err}");
        let (stalled, taken) = body(&[b"abc", b"def"], true);
        discard(stalled, 100, Duration::from_millis(50)).await;
        assert_eq!(taken.load(Ordering::Relaxed), 2);
    }
}
