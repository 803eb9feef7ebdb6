//! `baton.v1.FlowService` over the functions of `crate::flows`.

use baton_proto::v1 as pb;
use baton_proto::v1::flow_service_server::FlowService;
use tonic::{Request, Response, Status};

use super::{convert, status};
use crate::ApiState;
use crate::flows::{self, FlowPage};

pub struct FlowApi {
    state: ApiState,
}

impl FlowApi {
    pub fn new(state: ApiState) -> Self {
        Self { state }
    }
}

#[tonic::async_trait]
impl FlowService for FlowApi {
    async fn validate(
        &self,
        request: Request<pb::ValidateFlowsRequest>,
    ) -> Result<Response<pb::ValidateFlowsResponse>, Status> {
        let source = request.into_inner().source;
        let verdicts = flows::validate_source(&self.state, &source)
            .into_iter()
            .map(|verdict| pb::FlowVerdict {
                index: u32::try_from(verdict.index).unwrap_or(u32::MAX),
                namespace: verdict.namespace,
                id: verdict.id,
                valid: verdict.valid,
                diagnostics: verdict
                    .diagnostics
                    .iter()
                    .map(convert::diagnostic)
                    .collect(),
            })
            .collect();
        Ok(Response::new(pb::ValidateFlowsResponse { verdicts }))
    }

    async fn deploy(
        &self,
        request: Request<pb::DeployFlowRequest>,
    ) -> Result<Response<pb::DeployFlowResponse>, Status> {
        let request = request.into_inner();
        let (record, diagnostics) = flows::deploy(&self.state, &request.source)
            .await
            .map_err(|error| status(error, request.file_name.as_deref()))?;
        Ok(Response::new(pb::DeployFlowResponse {
            flow: Some(convert::flow(record)),
            warnings: diagnostics.iter().map(convert::diagnostic).collect(),
        }))
    }

    async fn get(
        &self,
        request: Request<pb::GetFlowRequest>,
    ) -> Result<Response<pb::Flow>, Status> {
        let request = request.into_inner();
        let record = flows::read_flow(
            &self.state,
            &request.namespace,
            &request.id,
            request.revision,
        )
        .await?;
        Ok(Response::new(convert::flow(record)))
    }

    async fn list(
        &self,
        request: Request<pb::ListFlowsRequest>,
    ) -> Result<Response<pb::ListFlowsResponse>, Status> {
        let request = request.into_inner();
        let page = FlowPage {
            namespace_prefix: request.namespace_prefix.filter(|p| !p.is_empty()),
            size: Some(request.page_size).filter(|size| *size > 0),
            page: None,
            after: request.page_token.filter(|token| !token.is_empty()),
        };
        let (records, next) = flows::list_flows(&self.state, page).await?;
        Ok(Response::new(pb::ListFlowsResponse {
            flows: records.into_iter().map(convert::flow).collect(),
            next_page_token: next,
        }))
    }

    async fn delete(
        &self,
        request: Request<pb::DeleteFlowRequest>,
    ) -> Result<Response<pb::DeleteFlowResponse>, Status> {
        let request = request.into_inner();
        self.state
            .store
            .delete_flow(&request.namespace, &request.id)
            .await
            .map_err(crate::ApiError::from)?;
        Ok(Response::new(pb::DeleteFlowResponse {}))
    }
}
