//! Which worker ran which task: recorded as the coordinator hands each task to a worker,
//! for `canon explain --analyze`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;

use datafusion::execution::TaskContext;
use url::Url;

/// The workers a query's tasks were sent to, by stage and task; present in a session's
/// config only while a query is explained.
#[derive(Debug, Default)]
pub(crate) struct Routes {
    tasks: Mutex<BTreeMap<(usize, usize), Url>>,
}

impl Routes {
    /// Records that the task went to `worker`, if the task's session keeps routes.
    pub(crate) fn record(task_ctx: &TaskContext, stage: usize, task: usize, worker: &Url) {
        if let Some(routes) = task_ctx.session_config().get_extension::<Routes>() {
            let mut tasks = routes.tasks.lock().unwrap_or_else(|e| e.into_inner());
            tasks.insert((stage, task), worker.clone());
        }
    }

    /// One line per stage: `Stage 2: task 0 → http://…, task 1 → http://…`.
    pub(crate) fn render(&self) -> String {
        let tasks = self.tasks.lock().unwrap_or_else(|e| e.into_inner());
        let mut stages: BTreeMap<usize, Vec<String>> = BTreeMap::new();
        for ((stage, task), worker) in tasks.iter() {
            stages
                .entry(*stage)
                .or_default()
                .push(format!("task {task} → {worker}"));
        }
        let mut out = String::new();
        for (stage, tasks) in stages {
            // Writing to a String cannot fail.
            let _ = writeln!(out, "Stage {stage}: {}", tasks.join(", "));
        }
        out
    }
}
