use std::sync::Arc;

use baton_store::{Error, FlowFilter, Store};

const V1: &str = "id: hello\nnamespace: company.team\ntasks: []\n";
const V2: &str = "id: hello\nnamespace: company.team\ntasks: [] # changed\n";

pub async fn deploy_adds_a_revision_only_when_the_source_changes(store: Arc<dyn Store>) {
    let first = store
        .deploy_flow("company.team", "hello", V1, false)
        .await
        .unwrap();
    assert_eq!(
        (first.revision, first.deleted, first.disabled),
        (1, false, false)
    );

    let same = store
        .deploy_flow("company.team", "hello", V1, false)
        .await
        .unwrap();
    assert_eq!(same, first, "same source, same revision");

    let disabled = store
        .deploy_flow("company.team", "hello", V1, true)
        .await
        .unwrap();
    assert_eq!(
        (disabled.revision, disabled.disabled),
        (1, true),
        "disabling is not a revision"
    );

    let second = store
        .deploy_flow("company.team", "hello", V2, false)
        .await
        .unwrap();
    assert_eq!(second.revision, 2);
    assert_eq!(
        store
            .get_flow("company.team", "hello", None)
            .await
            .unwrap()
            .source,
        V2
    );
    assert_eq!(
        store
            .get_flow("company.team", "hello", Some(1))
            .await
            .unwrap()
            .source,
        V1
    );
    let revisions = store.list_revisions("company.team", "hello").await.unwrap();
    assert_eq!(
        revisions.iter().map(|r| r.revision).collect::<Vec<_>>(),
        [1, 2]
    );
    assert!(matches!(
        store.get_flow("company.team", "missing", None).await,
        Err(Error::FlowNotFound { .. })
    ));
}

pub async fn delete_keeps_history_and_redeploy_continues_numbering(store: Arc<dyn Store>) {
    store.deploy_flow("ns", "f", V1, false).await.unwrap();
    store.deploy_flow("ns", "f", V2, false).await.unwrap();
    let tombstone = store.delete_flow("ns", "f").await.unwrap();
    assert_eq!((tombstone.revision, tombstone.deleted), (3, true));
    assert!(matches!(
        store.get_flow("ns", "f", None).await,
        Err(Error::FlowNotFound { .. })
    ));
    assert_eq!(
        store.get_flow("ns", "f", Some(2)).await.unwrap().source,
        V2,
        "history stays"
    );
    assert!(matches!(
        store.delete_flow("ns", "f").await,
        Err(Error::FlowNotFound { .. })
    ));

    let again = store.deploy_flow("ns", "f", V2, false).await.unwrap();
    assert_eq!(
        (again.revision, again.deleted),
        (4, false),
        "same source after a delete is new"
    );
    assert_eq!(store.list_revisions("ns", "f").await.unwrap().len(), 4);
}

pub async fn list_flows_filters_by_namespace_prefix_and_pages(store: Arc<dyn Store>) {
    for (ns, id) in [
        ("company", "a"),
        ("company.team", "b"),
        ("company.team", "c"),
        ("company.team.sub", "d"),
        ("company.teamwork", "e"),
        ("other", "f"),
    ] {
        store.deploy_flow(ns, id, V1, false).await.unwrap();
    }
    store
        .deploy_flow("company.team", "c", V2, false)
        .await
        .unwrap();
    store.delete_flow("company.team.sub", "d").await.unwrap();

    let ids = |flows: Vec<baton_store::FlowRecord>| {
        flows
            .into_iter()
            .map(|f| (f.id, f.revision))
            .collect::<Vec<_>>()
    };
    let filter = FlowFilter {
        namespace_prefix: Some("company.team".into()),
        after: None,
        limit: 10,
    };
    let all = store.list_flows(&filter).await.unwrap();
    assert_eq!(
        ids(all),
        [("b".into(), 1), ("c".into(), 2)],
        "latest live revisions only"
    );

    let page1 = store
        .list_flows(&FlowFilter {
            limit: 2,
            ..FlowFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(ids(page1.clone()), [("a".into(), 1), ("b".into(), 1)]);
    let last = page1.last().unwrap();
    let page2 = store
        .list_flows(&FlowFilter {
            after: Some((last.namespace.clone(), last.id.clone())),
            limit: 10,
            ..FlowFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(
        ids(page2),
        [("c".into(), 2), ("e".into(), 1), ("f".into(), 1)]
    );
}

/// The executor reads a subflow's flow inside its step transaction, holding the write lock.
pub async fn a_transaction_reads_flows_as_the_store_does(store: Arc<dyn Store>) {
    store
        .deploy_flow("company.team", "hello", V1, false)
        .await
        .unwrap();
    store
        .deploy_flow("company.team", "hello", V2, false)
        .await
        .unwrap();
    store
        .deploy_flow("company.team", "gone", V1, false)
        .await
        .unwrap();
    store.delete_flow("company.team", "gone").await.unwrap();
    let mut tx = store.begin().await.unwrap();
    let latest = tx.get_flow("company.team", "hello", None).await.unwrap();
    assert_eq!((latest.revision, latest.source.as_str()), (2, V2));
    let first = tx.get_flow("company.team", "hello", Some(1)).await.unwrap();
    assert_eq!((first.revision, first.source.as_str()), (1, V1));
    for (id, revision) in [("hello", Some(3)), ("nope", None), ("gone", None)] {
        assert!(
            matches!(
                tx.get_flow("company.team", id, revision).await,
                Err(Error::FlowNotFound { .. })
            ),
            "{id} {revision:?}"
        );
    }
    tx.commit().await.unwrap();
}
