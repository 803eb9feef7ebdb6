//! The closed set of task, trigger and task-runner types Baton knows, with the Kestra type names
//! each one answers to.
//!
//! A flow may name a type by its Baton name (`log`), by its Kestra 1.x name
//! (`io.kestra.plugin.core.log.Log`) or by its pre-0.17 Kestra name
//! (`io.kestra.core.tasks.log.Log`). All three resolve to the same kind.

use serde::Serialize;

macro_rules! kinds {
    (
        $(#[$meta:meta])*
        $enum:ident {
            $( $variant:ident => $name:literal [ $( $alias:literal ),* $(,)? ] ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
        pub enum $enum {
            $( #[serde(rename = $name)] $variant, )*
        }

        impl $enum {
            pub const ALL: &'static [$enum] = &[ $( $enum::$variant, )* ];

            /// Baton's own name for the type.
            pub fn name(self) -> &'static str {
                match self { $( $enum::$variant => $name, )* }
            }

            /// The Kestra type names this kind accepts, the current one first.
            pub fn kestra_names(self) -> &'static [&'static str] {
                match self { $( $enum::$variant => &[ $( $alias, )* ], )* }
            }
        }
    };
}

kinds! {
    /// What a task does. Flowable kinds are resolved by the executor; the others run on workers.
    TaskKind {
        Log => "log" ["io.kestra.plugin.core.log.Log", "io.kestra.core.tasks.log.Log"],
        Return => "return" ["io.kestra.plugin.core.debug.Return", "io.kestra.core.tasks.debugs.Return"],
        Sleep => "sleep" ["io.kestra.plugin.core.flow.Sleep"],
        If => "if" ["io.kestra.plugin.core.flow.If", "io.kestra.core.tasks.flows.If"],
        Switch => "switch" ["io.kestra.plugin.core.flow.Switch", "io.kestra.core.tasks.flows.Switch"],
        Parallel => "parallel" ["io.kestra.plugin.core.flow.Parallel", "io.kestra.core.tasks.flows.Parallel"],
        Sequential => "sequential" ["io.kestra.plugin.core.flow.Sequential", "io.kestra.core.tasks.flows.Sequential"],
        ForEach => "for_each" ["io.kestra.plugin.core.flow.ForEach"],
        WorkingDirectory => "working_directory" ["io.kestra.plugin.core.flow.WorkingDirectory", "io.kestra.core.tasks.flows.WorkingDirectory"],
        Subflow => "subflow" ["io.kestra.plugin.core.flow.Subflow", "io.kestra.core.tasks.flows.Subflow", "io.kestra.core.tasks.flows.Flow"],
        Pause => "pause" ["io.kestra.plugin.core.flow.Pause", "io.kestra.core.tasks.flows.Pause"],
        Fail => "fail" ["io.kestra.plugin.core.execution.Fail", "io.kestra.core.tasks.executions.Fail"],
        Labels => "labels" ["io.kestra.plugin.core.execution.Labels", "io.kestra.core.tasks.executions.Labels"],
        OutputValues => "output_values" ["io.kestra.plugin.core.output.OutputValues", "io.kestra.plugin.core.debug.OutputValues"],
        HttpDownload => "http.download" ["io.kestra.plugin.core.http.Download", "io.kestra.plugin.fs.http.Download"],
        HttpRequest => "http.request" ["io.kestra.plugin.core.http.Request", "io.kestra.plugin.fs.http.Request"],
        ShellCommands => "shell.commands" ["io.kestra.plugin.scripts.shell.Commands"],
        ShellScript => "shell.script" ["io.kestra.plugin.scripts.shell.Script"],
        PythonScript => "python.script" ["io.kestra.plugin.scripts.python.Script"],
        PythonCommands => "python.commands" ["io.kestra.plugin.scripts.python.Commands"],
        PostgresQueries => "postgres.queries" ["io.kestra.plugin.jdbc.postgresql.Queries"],
        PostgresQuery => "postgres.query" ["io.kestra.plugin.jdbc.postgresql.Query"],
        PostgresCopyIn => "postgres.copy_in" ["io.kestra.plugin.jdbc.postgresql.CopyIn"],
        PostgresCopyOut => "postgres.copy_out" ["io.kestra.plugin.jdbc.postgresql.CopyOut"],
        DuckdbQueries => "duckdb.queries" ["io.kestra.plugin.jdbc.duckdb.Queries"],
        DuckdbQuery => "duckdb.query" ["io.kestra.plugin.jdbc.duckdb.Query"],
        KvSet => "kv.set" ["io.kestra.plugin.core.kv.Set"],
        KvGet => "kv.get" ["io.kestra.plugin.core.kv.Get"],
        KvDelete => "kv.delete" ["io.kestra.plugin.core.kv.Delete"],
        PurgeCurrentExecutionFiles => "storage.purge_current_execution_files" ["io.kestra.plugin.core.storage.PurgeCurrentExecutionFiles"],
    }
}

kinds! {
    /// What starts an execution besides a person or an API call.
    TriggerKind {
        Schedule => "schedule" ["io.kestra.plugin.core.trigger.Schedule", "io.kestra.core.models.triggers.types.Schedule"],
        Flow => "flow" ["io.kestra.plugin.core.trigger.Flow", "io.kestra.core.models.triggers.types.Flow"],
        Webhook => "webhook" ["io.kestra.plugin.core.trigger.Webhook", "io.kestra.core.models.triggers.types.Webhook"],
    }
}

kinds! {
    /// Where a script task's commands run.
    RunnerKind {
        Process => "process" ["io.kestra.plugin.core.runner.Process"],
        Docker => "docker" ["io.kestra.plugin.scripts.runner.docker.Docker"],
    }
}

/// Kinds whose children the executor walks itself instead of sending them to a worker.
impl TaskKind {
    pub fn is_flowable(self) -> bool {
        matches!(
            self,
            TaskKind::If
                | TaskKind::Switch
                | TaskKind::Parallel
                | TaskKind::Sequential
                | TaskKind::ForEach
                | TaskKind::WorkingDirectory
        )
    }

    /// The keys of this kind that hold lists of child tasks, in the order they run.
    pub fn child_keys(self) -> &'static [&'static str] {
        match self {
            TaskKind::If => &["then", "else", "errors", "finally"],
            TaskKind::Switch => &["cases", "defaults", "errors", "finally"],
            TaskKind::Parallel
            | TaskKind::Sequential
            | TaskKind::ForEach
            | TaskKind::WorkingDirectory => &["tasks", "errors", "finally"],
            _ => &[],
        }
    }
}

/// Finds the kind a `type:` string names, among all kinds of one family.
pub fn resolve<K: Copy>(
    type_name: &str,
    all: &[K],
    name: fn(K) -> &'static str,
    kestra: fn(K) -> &'static [&'static str],
) -> Option<K> {
    all.iter()
        .copied()
        .find(|&k| name(k) == type_name || kestra(k).contains(&type_name))
}

impl TaskKind {
    pub fn from_type(type_name: &str) -> Option<Self> {
        resolve(type_name, Self::ALL, Self::name, Self::kestra_names)
    }
}

impl TriggerKind {
    pub fn from_type(type_name: &str) -> Option<Self> {
        resolve(type_name, Self::ALL, Self::name, Self::kestra_names)
    }
}

impl RunnerKind {
    pub fn from_type(type_name: &str) -> Option<Self> {
        resolve(type_name, Self::ALL, Self::name, Self::kestra_names)
    }
}

/// Every name of a family, for "did you mean" suggestions.
pub fn all_names<K: Copy>(
    all: &[K],
    name: fn(K) -> &'static str,
    kestra: fn(K) -> &'static [&'static str],
) -> Vec<&'static str> {
    all.iter()
        .flat_map(|&k| std::iter::once(name(k)).chain(kestra(k).iter().copied()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_resolves_to_its_kind_and_names_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for &kind in TaskKind::ALL {
            assert_eq!(TaskKind::from_type(kind.name()), Some(kind));
            for alias in kind.kestra_names() {
                assert_eq!(TaskKind::from_type(alias), Some(kind), "{alias}");
                assert!(seen.insert(*alias), "{alias} listed twice");
            }
        }
        assert_eq!(TaskKind::from_type("io.kestra.plugin.core.log.Lgo"), None);
    }

    #[test]
    fn triggers_and_runners_resolve() {
        assert_eq!(
            TriggerKind::from_type("io.kestra.plugin.core.trigger.Schedule"),
            Some(TriggerKind::Schedule)
        );
        assert_eq!(
            RunnerKind::from_type("io.kestra.plugin.scripts.runner.docker.Docker"),
            Some(RunnerKind::Docker)
        );
        assert_eq!(RunnerKind::from_type("process"), Some(RunnerKind::Process));
    }
}
