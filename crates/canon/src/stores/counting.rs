//! A store wrapper that counts requests and bytes, so that `canon.stores` can show what
//! each query asked of a store and what the caches saved it; it also makes read-only
//! stores refuse writes.

use std::fmt;
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMultipartOptions, PutOptions, PutPayload, PutResult, RenameOptions, Result, UploadPart,
};

/// Requests made of one store and the bytes they moved, since the runtime started.
#[derive(Debug, Default)]
pub struct Counters {
    gets: AtomicU64,
    get_bytes: AtomicU64,
    heads: AtomicU64,
    lists: AtomicU64,
    puts: AtomicU64,
    put_bytes: AtomicU64,
    deletes: AtomicU64,
    copies: AtomicU64,
}

/// A snapshot of [`Counters`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RequestCounts {
    /// GET requests, whole objects and ranges (a multi-range read counts each range).
    pub gets: u64,
    /// Bytes the GET requests asked for.
    pub get_bytes: u64,
    /// HEAD requests.
    pub heads: u64,
    /// LIST requests.
    pub lists: u64,
    /// PUT requests, multipart parts included.
    pub puts: u64,
    /// Bytes written.
    pub put_bytes: u64,
    /// DELETE requests.
    pub deletes: u64,
    /// COPY requests (renames included).
    pub copies: u64,
}

impl Counters {
    /// The counts so far.
    pub fn snapshot(&self) -> RequestCounts {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        RequestCounts {
            gets: get(&self.gets),
            get_bytes: get(&self.get_bytes),
            heads: get(&self.heads),
            lists: get(&self.lists),
            puts: get(&self.puts),
            put_bytes: get(&self.put_bytes),
            deletes: get(&self.deletes),
            copies: get(&self.copies),
        }
    }

    fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}

/// A length as a counter increment.
fn bytes(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

/// Counts every request to the store it wraps; refuses writes when read-only.
#[derive(Debug)]
pub(crate) struct CountingStore {
    inner: Arc<dyn ObjectStore>,
    counters: Arc<Counters>,
    read_only: bool,
    sorted: bool,
}

impl CountingStore {
    pub(crate) fn new(
        inner: Arc<dyn ObjectStore>,
        counters: Arc<Counters>,
        read_only: bool,
    ) -> Self {
        Self {
            inner,
            counters,
            read_only,
            sorted: false,
        }
    }

    /// Lists in path order, as S3 does and as Delta's log reader expects of any store
    /// but `file://` (a local directory lists in no particular order).
    pub(crate) fn sorted(mut self) -> Self {
        self.sorted = true;
        self
    }

    fn listing(
        &self,
        stream: BoxStream<'static, Result<ObjectMeta>>,
    ) -> BoxStream<'static, Result<ObjectMeta>> {
        if !self.sorted {
            return stream;
        }
        futures::stream::once(async move {
            let mut all: Vec<ObjectMeta> = stream.try_collect().await?;
            all.sort_by(|a, b| a.location.cmp(&b.location));
            Ok::<_, object_store::Error>(futures::stream::iter(all.into_iter().map(Ok)))
        })
        .try_flatten()
        .boxed()
    }

    fn writable(&self) -> Result<()> {
        if self.read_only {
            return Err(object_store::Error::NotSupported {
                source: format!(
                    "{} is read-only: Canon reads http(s) locations only",
                    self.inner
                )
                .into(),
            });
        }
        Ok(())
    }
}

impl fmt::Display for CountingStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.fmt(f)
    }
}

#[async_trait]
impl ObjectStore for CountingStore {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> Result<PutResult> {
        self.writable()?;
        Counters::add(&self.counters.puts, 1);
        Counters::add(&self.counters.put_bytes, bytes(payload.content_length()));
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> Result<Box<dyn MultipartUpload>> {
        self.writable()?;
        let inner = self.inner.put_multipart_opts(location, opts).await?;
        Ok(Box::new(CountingUpload {
            inner,
            counters: Arc::clone(&self.counters),
        }))
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        let head = options.head;
        let result = self.inner.get_opts(location, options).await;
        if head {
            Counters::add(&self.counters.heads, 1);
        } else {
            Counters::add(&self.counters.gets, 1);
            if let Ok(r) = &result {
                Counters::add(
                    &self.counters.get_bytes,
                    r.range.end.saturating_sub(r.range.start),
                );
            }
        }
        result
    }

    async fn get_ranges(&self, location: &Path, ranges: &[Range<u64>]) -> Result<Vec<Bytes>> {
        let result = self.inner.get_ranges(location, ranges).await?;
        Counters::add(&self.counters.gets, bytes(ranges.len()));
        let read: usize = result.iter().map(Bytes::len).sum();
        Counters::add(&self.counters.get_bytes, bytes(read));
        Ok(result)
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, Result<Path>>,
    ) -> BoxStream<'static, Result<Path>> {
        if let Err(e) = self.writable() {
            return futures::stream::once(async move { Err(e) }).boxed();
        }
        let counters = Arc::clone(&self.counters);
        self.inner
            .delete_stream(locations)
            .inspect(move |r| {
                if r.is_ok() {
                    Counters::add(&counters.deletes, 1);
                }
            })
            .boxed()
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        Counters::add(&self.counters.lists, 1);
        self.listing(self.inner.list(prefix))
    }

    fn list_with_offset(
        &self,
        prefix: Option<&Path>,
        offset: &Path,
    ) -> BoxStream<'static, Result<ObjectMeta>> {
        Counters::add(&self.counters.lists, 1);
        self.listing(self.inner.list_with_offset(prefix, offset))
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        Counters::add(&self.counters.lists, 1);
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> Result<()> {
        self.writable()?;
        Counters::add(&self.counters.copies, 1);
        self.inner.copy_opts(from, to, options).await
    }

    // Forwarded, not left to the default copy-and-delete: local renames are atomic.
    async fn rename_opts(&self, from: &Path, to: &Path, options: RenameOptions) -> Result<()> {
        self.writable()?;
        Counters::add(&self.counters.copies, 1);
        self.inner.rename_opts(from, to, options).await
    }
}

/// Counts the parts of a multipart upload as PUT requests.
#[derive(Debug)]
struct CountingUpload {
    inner: Box<dyn MultipartUpload>,
    counters: Arc<Counters>,
}

#[async_trait]
impl MultipartUpload for CountingUpload {
    fn put_part(&mut self, data: PutPayload) -> UploadPart {
        Counters::add(&self.counters.puts, 1);
        Counters::add(&self.counters.put_bytes, bytes(data.content_length()));
        self.inner.put_part(data)
    }

    async fn complete(&mut self) -> Result<PutResult> {
        self.inner.complete().await
    }

    async fn abort(&mut self) -> Result<()> {
        self.inner.abort().await
    }
}
