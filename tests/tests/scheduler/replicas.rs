//! Three `baton server scheduler` processes on one Postgres, one SIGKILLed in the middle of a
//! burst of due triggers: every (flow, trigger, fire date) creates exactly one execution,
//! checked in the executions table.

use std::collections::BTreeMap;
use std::time::Duration;

use baton_store::ExecutionFilter;
use baton_tests::TestCluster;
use baton_tests::process::BatonProcess;
use chrono::{DateTime, TimeDelta, Timelike, Utc};

const FLOWS: usize = 16;
/// Triggers per flow; trigger `j` fires once, `j` seconds into the burst.
const TRIGGERS: usize = 10;

/// A flow whose triggers each fire at one instant of the burst (a cron naming the second, minute,
/// hour, day and month: its next date is a year later).
fn burst_flow(n: usize, start: DateTime<Utc>) -> String {
    let mut flow = format!(
        "id: burst{n}\nnamespace: tests.replicas\ntasks:\n  - id: hello\n    type: io.kestra.plugin.core.log.Log\n    message: \"{{{{ trigger.date }}}}\"\ntriggers:\n"
    );
    for j in 0..TRIGGERS {
        let at = start + TimeDelta::seconds(i64::try_from(j).unwrap());
        flow.push_str(&format!(
            "  - id: at{j}\n    type: io.kestra.plugin.core.trigger.Schedule\n    withSeconds: true\n    cron: \"{} {} {} {} {} *\"\n",
            at.second(),
            at.minute(),
            at.hour(),
            at.format("%-d"),
            at.format("%-m"),
        ));
    }
    flow
}

fn scheduler(database_url: &str) -> anyhow::Result<BatonProcess> {
    BatonProcess::spawn(
        &["server", "scheduler", "--listen", "127.0.0.1:0"],
        &[("BATON_DATABASE_URL", database_url)],
        true,
    )
}

/// Every execution of the test's flows: (flow, trigger date) → how many.
async fn fired(cluster: &TestCluster) -> anyhow::Result<BTreeMap<(String, DateTime<Utc>), usize>> {
    let filter = ExecutionFilter {
        namespace: Some("tests.replicas".into()),
        ..ExecutionFilter::default()
    };
    let mut fired = BTreeMap::new();
    let mut after = None;
    loop {
        let page = cluster.store.list_executions(&filter, after, 500).await?;
        for row in &page.items {
            let date = row.document["trigger"]["date"]
                .as_str()
                .expect("a scheduled execution has trigger.date");
            let date = DateTime::parse_from_rfc3339(date)?.with_timezone(&Utc);
            *fired.entry((row.flow_id.clone(), date)).or_insert(0) += 1;
        }
        match page.next {
            Some(next) => after = Some(next),
            None => return Ok(fired),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_schedulers_fire_every_date_once_even_when_one_is_killed() -> anyhow::Result<()> {
    // The executor and a worker run in the test; the schedulers are processes.
    let cluster = TestCluster::builder().postgres().slots(8).start().await?;
    let url = cluster.database_url.clone().expect("a Postgres cluster");
    let start = (Utc::now() + TimeDelta::seconds(6))
        .with_nanosecond(0)
        .unwrap();
    for n in 0..FLOWS {
        cluster.deploy(&burst_flow(n, start)).await?;
    }
    let mut schedulers = vec![scheduler(&url)?, scheduler(&url)?, scheduler(&url)?];
    // Halfway through the burst, one scheduler dies without a chance to clean up.
    let halfway = start + TimeDelta::milliseconds(4_500);
    tokio::time::sleep((halfway - Utc::now()).to_std().unwrap_or_default()).await;
    schedulers[0].kill_hard()?;

    let expected = FLOWS * TRIGGERS;
    let mut seen = fired(&cluster).await?;
    for _ in 0..600 {
        if seen.len() == expected {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        seen = fired(&cluster).await?;
    }
    // The survivors keep running a moment longer: nothing may fire a second time.
    tokio::time::sleep(Duration::from_secs(1)).await;
    drop(schedulers);
    let seen = fired(&cluster).await?;
    let twice: Vec<_> = seen.iter().filter(|(_, count)| **count > 1).collect();
    assert!(
        twice.is_empty(),
        "dates that fired more than once: {twice:?}"
    );
    for n in 0..FLOWS {
        for j in 0..TRIGGERS {
            let date = start + TimeDelta::seconds(i64::try_from(j)?);
            assert_eq!(
                seen.get(&(format!("burst{n}"), date)),
                Some(&1),
                "burst{n} at{j} ({date}) did not fire once"
            );
        }
    }
    assert_eq!(seen.len(), expected, "no other date fired");
    Ok(())
}
