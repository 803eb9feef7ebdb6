//! `baton.v1.ExecutionService` over the functions of `crate::executions`, `crate::follow`
//! (Watch) and `crate::logs` (Logs).

use std::pin::Pin;

use baton_core::inputs::RawInput;
use baton_executor::executor::NewExecution;
use baton_proto::v1 as pb;
use baton_proto::v1::execution_service_server::ExecutionService;
use baton_store::ExecutionFilter;
use futures_util::{Stream, StreamExt as _};
use indexmap::IndexMap;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use super::convert;
use crate::ApiState;
use crate::executions::{self, execution_id};
use crate::logs::{FollowedLog, LineFilter};

type ServerStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send + 'static>>;

pub struct ExecutionApi {
    state: ApiState,
}

impl ExecutionApi {
    pub fn new(state: ApiState) -> Self {
        Self { state }
    }

    async fn row(&self, id: Uuid) -> Result<baton_store::Execution, Status> {
        Ok(self
            .state
            .store
            .get_execution(id)
            .await
            .map_err(crate::ApiError::from)?)
    }
}

/// Request inputs as the executor takes them: text is coerced like a form field, JSON is
/// parsed here so a malformed value is refused naming its input.
fn inputs(
    values: std::collections::HashMap<String, pb::InputValue>,
) -> Result<IndexMap<String, RawInput>, Status> {
    values
        .into_iter()
        .map(|(name, value)| {
            let raw = match value.value {
                Some(pb::input_value::Value::Text(text)) => RawInput::Text(text),
                Some(pb::input_value::Value::Json(text)) => {
                    RawInput::Json(serde_json::from_str(&text).map_err(|error| {
                        Status::invalid_argument(format!("input '{name}': invalid JSON: {error}"))
                    })?)
                }
                None => {
                    return Err(Status::invalid_argument(format!(
                        "input '{name}': give a text or a json value"
                    )));
                }
            };
            Ok((name, raw))
        })
        .collect()
}

fn labels(labels: Vec<pb::Label>) -> Result<IndexMap<String, String>, Status> {
    labels
        .into_iter()
        .map(|label| {
            if label.key.is_empty() {
                return Err(Status::invalid_argument("labels: a label needs a key"));
            }
            Ok((label.key, label.value))
        })
        .collect()
}

#[tonic::async_trait]
impl ExecutionService for ExecutionApi {
    async fn create(
        &self,
        request: Request<pb::CreateExecutionRequest>,
    ) -> Result<Response<pb::Execution>, Status> {
        let request = request.into_inner();
        let new = NewExecution {
            namespace: request.namespace,
            flow_id: request.flow_id,
            revision: request.revision,
            inputs: inputs(request.inputs)?,
            labels: labels(request.labels)?,
            trigger: None,
        };
        let execution =
            executions::create_execution(&self.state, uuid::Uuid::now_v7(), new).await?;
        Ok(Response::new(convert::execution(&execution)))
    }

    async fn get(
        &self,
        request: Request<pb::GetExecutionRequest>,
    ) -> Result<Response<pb::Execution>, Status> {
        let row = self.row(execution_id(&request.into_inner().id)?).await?;
        Ok(Response::new(convert::execution_row(&row)?))
    }

    async fn list(
        &self,
        request: Request<pb::ListExecutionsRequest>,
    ) -> Result<Response<pb::ListExecutionsResponse>, Status> {
        let request = request.into_inner();
        let filter = ExecutionFilter {
            namespace: request.namespace.filter(|n| !n.is_empty()),
            flow_id: request.flow_id.filter(|f| !f.is_empty()),
            states: request
                .states
                .iter()
                .map(|state| convert::state_from(*state, "states"))
                .collect::<Result<_, _>>()?,
            created_from: request
                .created_from
                .as_ref()
                .map(|at| convert::date_time(at, "created_from"))
                .transpose()?,
            created_to: request
                .created_to
                .as_ref()
                .map(|at| convert::date_time(at, "created_to"))
                .transpose()?,
            labels: labels(request.labels)?.into_iter().collect(),
        };
        let size = Some(request.page_size).filter(|size| *size > 0);
        let token = request.page_token.filter(|token| !token.is_empty());
        let (rows, next) =
            executions::search_executions(&self.state, &filter, size, token.as_deref()).await?;
        Ok(Response::new(pb::ListExecutionsResponse {
            executions: rows
                .iter()
                .map(convert::execution_row)
                .collect::<Result<_, _>>()?,
            next_page_token: next,
        }))
    }

    type WatchStream = ServerStream<pb::Execution>;

    async fn watch(
        &self,
        request: Request<pb::WatchExecutionRequest>,
    ) -> Result<Response<Self::WatchStream>, Status> {
        // NOT_FOUND now, not as the first item of a stream.
        let first = self.row(execution_id(&request.into_inner().id)?).await?;
        let changes = crate::follow::changes(self.state.clone(), first).map(|change| {
            change
                .map_err(|error| Status::from(crate::ApiError::from(error)))
                .and_then(|row| convert::execution_row(&row))
        });
        Ok(Response::new(Box::pin(changes)))
    }

    type LogsStream = ServerStream<pb::ExecutionLogEvent>;

    async fn logs(
        &self,
        request: Request<pb::ExecutionLogsRequest>,
    ) -> Result<Response<Self::LogsStream>, Status> {
        let request = request.into_inner();
        let id = execution_id(&request.execution_id)?;
        let filter = LineFilter {
            min_level: convert::min_level(request.min_level)?,
            task_run_id: request.task_run_id.filter(|id| !id.is_empty()),
        };
        self.row(id).await?;
        let lines =
            crate::logs::read_lines(self.state.clone(), id, filter, request.follow).map(|item| {
                use pb::execution_log_event::Event;
                let event = match item.map_err(crate::ApiError::from)? {
                    FollowedLog::Line { record, task_id } => {
                        Event::Line(convert::log_line(&record, task_id))
                    }
                    FollowedLog::End(state) => Event::End(convert::state(state).into()),
                };
                Ok(pb::ExecutionLogEvent { event: Some(event) })
            });
        Ok(Response::new(Box::pin(lines)))
    }

    async fn kill(
        &self,
        request: Request<pb::ExecutionRef>,
    ) -> Result<Response<pb::Execution>, Status> {
        let id = execution_id(&request.into_inner().id)?;
        let row = executions::kill_execution(&self.state, id).await?;
        Ok(Response::new(convert::execution_row(&row)?))
    }

    async fn resume(
        &self,
        request: Request<pb::ExecutionRef>,
    ) -> Result<Response<pb::Execution>, Status> {
        let id = execution_id(&request.into_inner().id)?;
        let row = executions::resume_execution(&self.state, id).await?;
        Ok(Response::new(convert::execution_row(&row)?))
    }

    async fn restart(
        &self,
        request: Request<pb::ExecutionRef>,
    ) -> Result<Response<pb::Execution>, Status> {
        let id = execution_id(&request.into_inner().id)?;
        let row = executions::restart_execution(&self.state, id).await?;
        Ok(Response::new(convert::execution_row(&row)?))
    }

    async fn replay(
        &self,
        request: Request<pb::ReplayExecutionRequest>,
    ) -> Result<Response<pb::Execution>, Status> {
        let request = request.into_inner();
        let id = execution_id(&request.id)?;
        if request.task_run_id.is_empty() {
            return Err(Status::invalid_argument(
                "task_run_id: name the task run to replay from",
            ));
        }
        let execution = baton_executor::executor::replay_execution(
            &self.state.executor,
            &id.to_string(),
            &request.task_run_id,
        )
        .await
        .map_err(crate::ApiError::from)?;
        Ok(Response::new(convert::execution(&execution)))
    }
}
