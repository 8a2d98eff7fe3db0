//! Lists the files of local datasets on a thread of its own, outside the async runtime.
//!
//! object_store's local store walks a directory on Tokio's blocking pool when it is called
//! from inside the runtime: one hand-off to a pool thread and one back per listing. With a
//! thousand local datasets that thread switching was a fifth of `canon query`'s start-up.
//! Called from a thread without a runtime, the store walks the directory inline, so
//! registration sends every local listing to one such thread, which lists them in turn
//! while the runtime plans the other datasets. Object storage is listed on the runtime,
//! concurrently, as before.

use std::sync::Arc;
use std::sync::mpsc;

use datafusion::datasource::listing::ListingTableUrl;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::context::SessionState;
use futures::TryStreamExt;
use object_store::{ObjectMeta, ObjectStore};
use tokio::sync::oneshot;

/// A listing the thread runs, given the registration state.
type Job = Box<dyn FnOnce(&SessionState) + Send>;

/// The listing thread of one registration; it stops when this is dropped.
#[derive(Debug)]
pub(crate) struct LocalLister {
    jobs: Option<mpsc::Sender<Job>>,
}

impl LocalLister {
    /// Starts the thread. Without it (the system refused a thread), every listing runs
    /// on the runtime.
    pub(crate) fn start(state: Arc<SessionState>) -> Self {
        let (sender, jobs) = mpsc::channel::<Job>();
        let spawned = std::thread::Builder::new()
            .name("canon-local-list".to_string())
            .spawn(move || {
                for job in jobs {
                    job(&state);
                }
            });
        match spawned {
            Ok(_) => Self { jobs: Some(sender) },
            Err(error) => {
                tracing::debug!(%error, "local datasets are listed on the runtime");
                Self { jobs: None }
            }
        }
    }

    /// Every file under `url` with the extension, listed on the thread when the URL is
    /// a local one; on the runtime otherwise, or when the thread is gone.
    pub(crate) async fn list(
        &self,
        state: &SessionState,
        url: &ListingTableUrl,
        store: Arc<dyn ObjectStore>,
        extension: &str,
    ) -> Result<Vec<ObjectMeta>> {
        if let Some(jobs) = self.jobs.as_ref().filter(|_| is_local(url)) {
            let (reply, listed) = oneshot::channel();
            let (job_url, job_store, job_extension) =
                (url.clone(), Arc::clone(&store), extension.to_string());
            let job: Job = Box::new(move |state| {
                let files = futures::executor::block_on(list_files(
                    state,
                    &job_url,
                    job_store.as_ref(),
                    &job_extension,
                ));
                // The registration may have stopped waiting; then nobody needs the files.
                let _ = reply.send(files);
            });
            if jobs.send(job).is_ok()
                && let Ok(files) = listed.await
            {
                return files;
            }
        }
        list_files(state, url, store.as_ref(), extension).await
    }
}

/// Whether `url` is served by a local store: Canon's registry serves `file://` and the
/// project directory's `project://` with object_store's local file system.
fn is_local(url: &ListingTableUrl) -> bool {
    matches!(
        url.get_url().scheme(),
        "file" | canon_model::store::PROJECT_SCHEME
    )
}

/// Every file under `url` with the extension, as DataFusion's listing table finds them.
pub(crate) async fn list_files(
    state: &SessionState,
    url: &ListingTableUrl,
    store: &dyn ObjectStore,
    extension: &str,
) -> Result<Vec<ObjectMeta>, DataFusionError> {
    url.list_all_files(state, store, extension)
        .await?
        .try_collect()
        .await
}
