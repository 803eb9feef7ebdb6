//! `FlowService`: validate, deploy (and its errors), get, list, delete.

use super::support::*;

const BROKEN: &str = r#"id: broken
namespace: tests.grpc
tasks:
  - id: one
    type: io.kestra.plugin.core.log.Lgo
    message: hi
  - id: two
    type: io.kestra.plugin.core.log.Log
    mesage: typo
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_flow_is_refused_with_every_diagnostic_at_file_line_column() -> anyhow::Result<()>
{
    let server = Server::start()?;
    let (mut flows, _) = server.clients(None).await?;
    let request = pb::DeployFlowRequest {
        source: BROKEN.to_owned(),
        file_name: Some("flows/broken.yaml".to_owned()),
    };
    let status = flows.deploy(request).await.expect_err("an invalid flow");
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    let lines: Vec<&str> = status.message().lines().collect();
    assert_eq!(lines[0], "invalid flow (3 errors)", "{lines:?}");
    assert!(
        lines[1].starts_with(
            "flows/broken.yaml:5:11: unknown task type 'io.kestra.plugin.core.log.Lgo'"
        ),
        "{lines:?}"
    );
    assert_eq!(
        lines[2],
        "flows/broken.yaml:7:5: missing required property 'message'"
    );
    assert!(
        lines[3].starts_with("flows/broken.yaml:9:5: unknown property 'mesage'"),
        "{lines:?}"
    );
    // The same list as google.rpc.BadRequest field violations, for programs.
    use tonic_types::StatusExt as _;
    let details = status.get_error_details();
    let violations = &details
        .bad_request()
        .expect("BadRequest details")
        .field_violations;
    let fields: Vec<&str> = violations.iter().map(|v| v.field.as_str()).collect();
    assert_eq!(
        fields,
        [
            "flows/broken.yaml:5:11",
            "flows/broken.yaml:7:5",
            "flows/broken.yaml:9:5"
        ]
    );
    assert!(
        violations[2]
            .description
            .contains("did you mean 'message'?")
    );

    // Nothing was deployed.
    let missing = flows
        .get(pb::GetFlowRequest {
            namespace: "tests.grpc".into(),
            id: "broken".into(),
            revision: None,
        })
        .await
        .expect_err("not deployed");
    assert_eq!(missing.code(), Code::NotFound);
    assert!(
        missing.message().contains("tests.grpc.broken"),
        "{missing:?}"
    );

    // Without a file name, positions are still given.
    let request = pb::DeployFlowRequest {
        source: BROKEN.to_owned(),
        file_name: None,
    };
    let status = flows.deploy(request).await.expect_err("an invalid flow");
    assert!(status.message().contains("\n<source>:5:11: "), "{status:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flows_are_validated_deployed_read_listed_and_deleted() -> anyhow::Result<()> {
    let server = Server::start()?;
    let (mut flows, _) = server.clients(None).await?;

    let source = format!("{HELLO}---\n{BROKEN}");
    let verdicts = flows
        .validate(pb::ValidateFlowsRequest { source })
        .await?
        .into_inner()
        .verdicts;
    assert_eq!(verdicts.len(), 2);
    assert!(verdicts[0].valid && verdicts[0].diagnostics.is_empty());
    assert_eq!(verdicts[1].id.as_deref(), Some("broken"));
    assert!(!verdicts[1].valid);
    let first = &verdicts[1].diagnostics[0];
    // Lines count from the start of the whole source.
    let offset = HELLO.lines().count() as u32 + 1;
    assert_eq!((first.line, first.column), (offset + 5, 11));
    assert_eq!(first.severity, pb::Severity::Error as i32);

    let first = deploy(&mut flows, HELLO).await?;
    assert_eq!(
        (first.namespace.as_str(), first.revision),
        ("tests.grpc", 1)
    );
    // The same source again keeps the revision; a changed one adds one.
    assert_eq!(deploy(&mut flows, HELLO).await?.revision, 1);
    let changed = HELLO.replace("defaults: world", "defaults: there");
    assert_eq!(deploy(&mut flows, &changed).await?.revision, 2);
    deploy(&mut flows, SLEEPY).await?;

    let get = |revision| pb::GetFlowRequest {
        namespace: "tests.grpc".into(),
        id: "hello".into(),
        revision,
    };
    assert_eq!(flows.get(get(None)).await?.into_inner().source, changed);
    assert_eq!(flows.get(get(Some(1))).await?.into_inner().source, HELLO);
    let status = flows.get(get(Some(7))).await.expect_err("no revision 7");
    assert_eq!(status.code(), Code::NotFound);
    assert_eq!(
        status.message(),
        "flow tests.grpc.hello revision 7 not found"
    );

    // Pages of one, keyset by the token.
    let list = |page_token| pb::ListFlowsRequest {
        namespace_prefix: Some("tests".into()),
        page_size: 1,
        page_token,
    };
    let page = flows.list(list(None)).await?.into_inner();
    assert_eq!(page.flows[0].id, "hello");
    let page = flows.list(list(page.next_page_token)).await?.into_inner();
    assert_eq!(page.flows[0].id, "sleepy");
    let page = flows.list(list(page.next_page_token)).await?.into_inner();
    assert!(page.flows.is_empty() && page.next_page_token.is_none());
    let status = flows
        .list(list(Some("garbage".into())))
        .await
        .expect_err("a bad token");
    assert_eq!(status.code(), Code::InvalidArgument);

    flows
        .delete(pb::DeleteFlowRequest {
            namespace: "tests.grpc".into(),
            id: "sleepy".into(),
        })
        .await?;
    let left = flows.list(list(None)).await?.into_inner();
    assert_eq!(left.flows[0].id, "hello");
    let after = flows.list(list(left.next_page_token)).await?.into_inner();
    assert!(after.flows.is_empty(), "{after:?}");
    let status = flows
        .delete(pb::DeleteFlowRequest {
            namespace: "tests.grpc".into(),
            id: "nothing".into(),
        })
        .await
        .expect_err("nothing to delete");
    assert_eq!(status.code(), Code::NotFound);
    Ok(())
}
