//! Connections to workers: one gRPC channel per worker, made within the project's
//! `connect_timeout` and kept alive with HTTP/2 pings, so that a worker that dies or hangs
//! fails its query within a bound instead of leaving it waiting. Every error a worker's
//! channel returns names the worker.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::TaskContext;
use datafusion::physical_plan::metrics::ExecutionPlanMetricsSet;
use datafusion_distributed::grpc::{BoxCloneSyncChannel, create_worker_client};
use datafusion_distributed::{
    ChannelResolver, CoordinatorToWorkerMsg, ExecuteTaskRequest, GetWorkerInfoRequest,
    GetWorkerInfoResponse, SetPlanRequest, WorkerChannel, WorkerToCoordinatorMsg,
};
use futures::StreamExt;
use futures::stream::BoxStream;
use tonic::body::Body;
use tonic::codegen::http::header::AUTHORIZATION;
use tonic::codegen::http::{HeaderMap, HeaderValue, Request};
use tonic::transport::{Channel, Endpoint};
use tower::ServiceBuilder;
use url::Url;

use super::routes::Routes;
use crate::error::WorkerError;

/// How long connections may take and how dead peers are noticed.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timeouts {
    /// Connecting, TCP and HTTP/2 handshake together.
    pub connect: Duration,
    /// An unanswered keep-alive ping closes the connection after this long.
    pub keepalive: Duration,
}

/// Canon's [`ChannelResolver`]: cached channels to each worker, with bounded connects and
/// the workers' shared secret on every request.
#[derive(Clone)]
pub(crate) struct Channels {
    timeouts: Timeouts,
    /// `authorization: Bearer …`, marked sensitive so that it is never printed.
    secret: Option<HeaderValue>,
    /// Channels reconnect by themselves; a failed connect is not cached.
    cache: Arc<Mutex<HashMap<Url, Channel>>>,
}

impl Channels {
    /// Channels under `timeouts`, sending `secret` as the `authorization` header if given.
    pub(crate) fn new(timeouts: Timeouts, secret: Option<HeaderValue>) -> Self {
        Self {
            timeouts,
            secret,
            cache: Arc::default(),
        }
    }

    fn cached(&self, url: &Url) -> Option<Channel> {
        let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        cache.get(url).cloned()
    }

    async fn channel(&self, url: &Url) -> Result<Channel, WorkerError> {
        if let Some(channel) = self.cached(url) {
            return Ok(channel);
        }
        let unreachable = |source: tonic::transport::Error| WorkerError::Unreachable {
            worker: url.clone(),
            source: Arc::new(source),
        };
        // Pings every half of the keep-alive bound, each answered within the other half.
        let ping = self.timeouts.keepalive / 2;
        let endpoint = Endpoint::from_shared(url.to_string())
            .map_err(unreachable)?
            .connect_timeout(self.timeouts.connect)
            .tcp_nodelay(true)
            .http2_keep_alive_interval(ping)
            .keep_alive_timeout(ping)
            .keep_alive_while_idle(true);
        let channel = tokio::time::timeout(self.timeouts.connect, endpoint.connect())
            .await
            .map_err(|_| WorkerError::ConnectTimeout {
                worker: url.clone(),
                timeout: self.timeouts.connect,
            })?
            .map_err(unreachable)?;
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        Ok(cache.entry(url.clone()).or_insert(channel).clone())
    }
}

#[async_trait]
impl ChannelResolver for Channels {
    async fn get_worker_client_for_url(&self, url: &Url) -> Result<Box<dyn WorkerChannel>> {
        let channel = self
            .channel(url)
            .await
            .map_err(|e| DataFusionError::External(Box::new(e)))?;
        let secret = self.secret.clone();
        let channel = ServiceBuilder::new()
            .map_request(move |mut request: Request<Body>| {
                if let Some(secret) = &secret {
                    request.headers_mut().insert(AUTHORIZATION, secret.clone());
                }
                request
            })
            .service(channel);
        Ok(Box::new(Named {
            worker: url.clone(),
            inner: create_worker_client(BoxCloneSyncChannel::new(channel)),
        }))
    }
}

/// A worker's client whose every error names the worker.
struct Named {
    worker: Url,
    inner: Box<dyn WorkerChannel>,
}

/// The error as one that names `worker`, unless it already does.
fn named(worker: &Url, error: DataFusionError) -> DataFusionError {
    if let DataFusionError::External(inner) = &error
        && inner.is::<WorkerError>()
    {
        return error;
    }
    DataFusionError::External(Box::new(WorkerError::Failed {
        worker: worker.clone(),
        source: Arc::new(error),
    }))
}

/// The stream with each of its errors naming `worker`.
fn named_stream<T: Send + 'static>(
    worker: &Url,
    stream: BoxStream<'static, Result<T>>,
) -> BoxStream<'static, Result<T>> {
    let worker = worker.clone();
    stream
        .map(move |item| item.map_err(|e| named(&worker, e)))
        .boxed()
}

#[async_trait]
impl WorkerChannel for Named {
    async fn coordinator_channel(
        &mut self,
        headers: HeaderMap,
        set_plan_request: SetPlanRequest,
        c2w_stream: BoxStream<'static, CoordinatorToWorkerMsg>,
        metrics: ExecutionPlanMetricsSet,
        task_ctx: &Arc<TaskContext>,
    ) -> Result<BoxStream<'static, Result<WorkerToCoordinatorMsg>>> {
        let key = &set_plan_request.task_key;
        Routes::record(task_ctx, key.stage_id, key.task_number, &self.worker);
        let stream = self
            .inner
            .coordinator_channel(headers, set_plan_request, c2w_stream, metrics, task_ctx)
            .await
            .map_err(|e| named(&self.worker, e))?;
        Ok(named_stream(&self.worker, stream))
    }

    async fn execute_task(
        &mut self,
        headers: HeaderMap,
        request: ExecuteTaskRequest,
        metrics: ExecutionPlanMetricsSet,
        task_ctx: &Arc<TaskContext>,
    ) -> Result<Vec<BoxStream<'static, Result<RecordBatch>>>> {
        let streams = self
            .inner
            .execute_task(headers, request, metrics, task_ctx)
            .await
            .map_err(|e| named(&self.worker, e))?;
        Ok(streams
            .into_iter()
            .map(|stream| named_stream(&self.worker, stream))
            .collect())
    }

    async fn get_worker_info(
        &mut self,
        request: GetWorkerInfoRequest,
    ) -> Result<GetWorkerInfoResponse> {
        self.inner
            .get_worker_info(request)
            .await
            .map_err(|e| named(&self.worker, e))
    }
}
