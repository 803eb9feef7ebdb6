//! Basic auth on the public services; health and reflection on the same port, open.

use tokio_stream::StreamExt as _;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_reflection::pb::v1::ServerReflectionRequest;
use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;

use super::support::*;

const USER: &str = "admin@kestra.io:Admin1234!";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_basic_auth_every_call_needs_the_credentials() -> anyhow::Result<()> {
    let server = Server::start_with(&[("BATON_BASIC_AUTH", USER)])?;
    for user in [
        None,
        Some("admin@kestra.io:wrong"),
        Some("someone:Admin1234!"),
    ] {
        let (mut flows, mut executions) = server.clients(user).await?;
        let status = flows
            .deploy(pb::DeployFlowRequest {
                source: HELLO.into(),
                file_name: None,
            })
            .await
            .expect_err("refused");
        assert_eq!(status.code(), Code::Unauthenticated, "{user:?}: {status:?}");
        let expected = if user.is_some() {
            "invalid credentials"
        } else {
            "authentication required"
        };
        assert!(status.message().starts_with(expected), "{status:?}");
        let status = executions
            .watch(pb::WatchExecutionRequest { id: "x".into() })
            .await
            .expect_err("refused");
        assert_eq!(status.code(), Code::Unauthenticated);
    }
    let (mut flows, mut executions) = server.clients(Some(USER)).await?;
    let list = flows
        .list(pb::ListFlowsRequest::default())
        .await?
        .into_inner();
    assert!(
        list.flows.is_empty(),
        "nothing was deployed without credentials"
    );
    deploy(&mut flows, HELLO).await?;
    let created = executions
        .create(pb::CreateExecutionRequest {
            namespace: "tests.grpc".into(),
            flow_id: "hello".into(),
            ..Default::default()
        })
        .await?
        .into_inner();
    let ended = watch_until(&mut executions, &created.id, |e| e.ended.is_some()).await?;
    assert_eq!(state_of(&ended), pb::State::Success);

    // Health stays open, as `GET /api/v1/health` does.
    let mut health = HealthClient::new(server.channel().await?);
    let check = |service: &str| HealthCheckRequest {
        service: service.into(),
    };
    let answer = health
        .check(check("baton.v1.FlowService"))
        .await?
        .into_inner();
    assert_eq!(answer.status, ServingStatus::Serving as i32);
    Ok(())
}

/// What `grpcurl -plaintext HOST:PORT list` asks: the services, by reflection.
async fn list_services(server: &Server) -> anyhow::Result<Vec<String>> {
    let mut reflection = ServerReflectionClient::new(server.channel().await?);
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut answers = reflection
        .server_reflection_info(tokio_stream::iter([request]))
        .await?
        .into_inner();
    let answer = answers.next().await.expect("an answer")?;
    let Some(MessageResponse::ListServicesResponse(list)) = answer.message_response else {
        anyhow::bail!("not a service list: {answer:?}");
    };
    let mut names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    names.sort();
    Ok(names)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reflection_and_health_describe_every_service_of_the_port() -> anyhow::Result<()> {
    let server = Server::start()?;
    let names = list_services(&server).await?;
    for service in [
        "baton.v1.ExecutionService",
        "baton.v1.FlowService",
        "baton.v1.WorkerService",
        "grpc.health.v1.Health",
    ] {
        assert!(names.iter().any(|n| n == service), "{service} in {names:?}");
    }

    // `grpcurl describe baton.v1.ExecutionService` reads the file that defines it.
    let mut reflection = ServerReflectionClient::new(server.channel().await?);
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::FileContainingSymbol(
            "baton.v1.ExecutionService".into(),
        )),
    };
    let answer = reflection
        .server_reflection_info(tokio_stream::iter([request]))
        .await?
        .into_inner()
        .next()
        .await
        .expect("an answer")?;
    let Some(MessageResponse::FileDescriptorResponse(files)) = answer.message_response else {
        anyhow::bail!("no file descriptor: {answer:?}");
    };
    let described = files
        .file_descriptor_proto
        .iter()
        .any(|bytes| bytes.windows(5).any(|w| w == b"Watch"));
    assert!(described, "the descriptor names the Watch rpc");

    let mut health = HealthClient::new(server.channel().await?);
    for service in ["baton.v1.ExecutionService", "baton.v1.WorkerService", ""] {
        let answer = health
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await?
            .into_inner();
        assert_eq!(answer.status, ServingStatus::Serving as i32, "{service:?}");
    }
    let status = health
        .check(HealthCheckRequest {
            service: "baton.v1.Nothing".into(),
        })
        .await
        .expect_err("unknown service");
    assert_eq!(status.code(), Code::NotFound);
    Ok(())
}
