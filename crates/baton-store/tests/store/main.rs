//! The conformance suite, run against Postgres and SQLite, plus backend-specific tests.
//!
//! Test names state the behaviour; each suite function runs once per backend, as
//! `postgres::<name>` and `sqlite::<name>`.

mod bench;
mod postgres_only;
mod suite;
mod support;

macro_rules! conformance {
    ($($module:ident :: $name:ident),* $(,)?) => {
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let store = crate::support::postgres().await;
                    crate::suite::$module::$name(store.store.clone()).await;
                }
            )*
        }
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let store = crate::support::sqlite().await;
                    crate::suite::$module::$name(store.store.clone()).await;
                }
            )*
        }
    };
}

conformance! {
    flows::deploy_adds_a_revision_only_when_the_source_changes,
    flows::delete_keeps_history_and_redeploy_continues_numbering,
    flows::list_flows_filters_by_namespace_prefix_and_pages,
    flows::a_transaction_reads_flows_as_the_store_does,
    executions::create_execution_commits_row_and_message_together,
    executions::failed_create_leaves_neither_row_nor_message,
    executions::dropped_transaction_leaves_nothing,
    executions::update_with_stale_version_conflicts_and_changes_nothing,
    executions::update_enqueues_and_acks_atomically,
    executions::write_step_writes_enqueues_and_acks_or_nothing,
    executions::lock_execution_serializes_writers,
    executions::lock_unless_skips_only_a_known_document,
    executions::list_executions_filters_and_pages_newest_first,
    queue::claim_takes_due_messages_in_priority_order,
    queue::claim_skips_claimed_messages,
    queue::claim_never_hands_a_message_to_two_consumers,
    queue::keyed_messages_are_claimed_one_at_a_time_in_order,
    queue::expired_lease_is_rescued_with_next_attempt,
    queue::message_enqueued_claimed_is_its_consumers_until_the_lease_runs_out,
    queue::renew_keeps_a_lease_alive,
    queue::nack_delays_the_next_claim,
    queue::subscriber_is_woken_by_enqueue,
    logs_kv::logs_come_back_in_order_and_follow_with_a_cursor,
    logs_kv::kv_values_expire_after_their_ttl,
    triggers::sync_creates_keeps_restarts_and_deletes_trigger_rows,
    triggers::list_triggers_filters_by_namespace_prefix_and_flow,
    triggers::sync_takes_many_flows_at_once_and_skips_those_already_synced,
    triggers::fire_commits_execution_message_key_and_state_together,
    triggers::a_date_fires_once_and_a_dropped_fire_leaves_nothing,
    triggers::ended_executions_reports_ended_and_missing_ones,
    triggers::deploys_and_notifications_wake_schedulers,
    triggers::updates_through_a_waiting_lock_apply_in_turn,
    schedule_fires::due_dates_fire_together_once_and_only_as_armed,
    backfills::backfills_are_created_once_per_trigger_and_change_state,
    backfills::a_backfill_fires_in_a_transaction_and_counts_its_ended_executions,
    backfills::deleting_a_trigger_cancels_its_active_backfill,
    concurrency::slots_admit_up_to_the_limit_and_queue_the_rest_in_order,
    concurrency::a_full_flow_refuses_without_queue_behaviour,
    concurrency::acquiring_again_keeps_the_slot_or_the_place_in_line,
    concurrency::the_head_of_the_queue_is_never_overtaken,
    concurrency::a_rolled_back_decision_takes_no_slot,
    concurrency::racing_acquires_never_exceed_the_limit,
    concurrency::flows_generation_grows_with_every_flow_change,
    concurrency::trigger_windows_keep_their_state_and_take_turns,
    retention::purge_deletes_ended_executions_with_their_rows_in_batches,
    retention::purges_running_at_once_take_different_executions,
    retention::logs_only_purge_keeps_executions,
}
