//! A private Redis Cluster: three masters, each with a replica, for tests of the cache on a
//! cluster and of a master's failover.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use crate::postgres::START_TIMEOUT;
use crate::process::{find_program, free_cluster_port};
use crate::redis::PrivateRedis;
use crate::wait::wait_until;

/// Masters, and a replica of each.
const MASTERS: usize = 3;

/// How long a master may be silent before its replica takes over: short, so a failover
/// takes seconds in a test rather than the 15 s default.
const NODE_TIMEOUT_MS: u32 = 1000;

/// Six `redis-server` processes in cluster mode on free ports of 127.0.0.1, joined with
/// `redis-cli --cluster create … --cluster-replicas 1`. Dropping it stops them all.
#[derive(Debug)]
pub struct PrivateRedisCluster {
    nodes: Vec<PrivateRedis>,
    cli: PathBuf,
}

impl PrivateRedisCluster {
    /// Starts the nodes, creates the cluster and returns once every slot is served.
    pub async fn start() -> std::io::Result<PrivateRedisCluster> {
        let cli = find_program("redis-cli", &[PathBuf::from("/usr/bin/redis-cli")])
            .ok_or_else(|| std::io::Error::other("redis-cli not found"))?;
        let mut nodes = Vec::with_capacity(2 * MASTERS);
        for _ in 0..2 * MASTERS {
            let args = [
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                "nodes.conf",
                "--cluster-node-timeout",
                &NODE_TIMEOUT_MS.to_string(),
                // A replica takes over however long it was cut off from its master: in a
                // test the master is killed, not partitioned.
                "--cluster-replica-validity-factor",
                "0",
            ]
            .map(str::to_owned)
            .to_vec();
            nodes.push(PrivateRedis::start_on(free_cluster_port(), None, args).await?);
        }
        let cluster = PrivateRedisCluster { nodes, cli };
        let mut create = vec!["--cluster".to_owned(), "create".to_owned()];
        create.extend(
            cluster
                .nodes
                .iter()
                .map(|n| format!("127.0.0.1:{}", n.port())),
        );
        create.extend(["--cluster-replicas", "1", "--cluster-yes"].map(str::to_owned));
        cluster.cli(None, create).await?;
        if !cluster.wait_healthy(START_TIMEOUT).await {
            return Err(std::io::Error::other(
                "the Redis Cluster did not form in time",
            ));
        }
        Ok(cluster)
    }

    /// `redis-cluster://127.0.0.1:<port>?node=127.0.0.1:<port>&…`, every node named.
    pub fn url(&self) -> String {
        let mut url = String::from("redis-cluster://");
        for (i, node) in self.nodes.iter().enumerate() {
            let sep = match i {
                0 => "",
                1 => "?node=",
                _ => "&node=",
            };
            url.push_str(&format!("{sep}127.0.0.1:{}", node.port()));
        }
        url
    }

    /// The ports of the masters serving slots, as a running node sees them.
    pub async fn masters(&self) -> std::io::Result<Vec<u16>> {
        let port = self
            .running()
            .next()
            .ok_or_else(|| std::io::Error::other("no node is running"))?;
        let nodes = self.cli(Some(port), ["cluster", "nodes"]).await?;
        Ok(nodes
            .lines()
            .filter_map(|line| {
                let fields: Vec<&str> = line.split_whitespace().collect();
                let flags = fields.get(2)?;
                // A master with slots (fields 9…) that is not failed.
                let serving = flags.split(',').any(|f| f == "master")
                    && !flags.split(',').any(|f| f == "fail" || f == "fail?")
                    && fields.len() > 8;
                let port = fields.get(1)?.split('@').next()?.rsplit(':').next()?;
                serving.then(|| port.parse().ok()).flatten()
            })
            .collect())
    }

    /// Keys held by the node on `port` (DBSIZE).
    pub async fn keys_on(&self, port: u16) -> std::io::Result<u64> {
        let size = self.cli(Some(port), ["dbsize"]).await?;
        size.trim()
            .parse()
            .map_err(|_| std::io::Error::other(format!("DBSIZE answered {size:?}")))
    }

    /// Kills the node on `port` (SIGKILL, like a crash).
    pub async fn kill(&mut self, port: u16) {
        if let Some(node) = self.nodes.iter_mut().find(|n| n.port() == port) {
            node.stop().await;
        }
    }

    /// Whether every running node says `cluster_state:ok` and [`MASTERS`] masters serve
    /// the slots, each of them a running node (right after a kill, the others still take
    /// the dead master for alive).
    pub async fn healthy(&self) -> bool {
        for port in self.running() {
            match self.cli(Some(port), ["cluster", "info"]).await {
                Ok(info) if info.lines().any(|l| l.trim() == "cluster_state:ok") => {}
                _ => return false,
            }
        }
        self.masters().await.is_ok_and(|masters| {
            masters.len() == MASTERS && masters.iter().all(|m| self.running().any(|p| p == *m))
        })
    }

    /// Waits up to `within` for [`PrivateRedisCluster::healthy`], e.g. for a replica to
    /// take over from a killed master.
    pub async fn wait_healthy(&self, within: Duration) -> bool {
        wait_until(within, async || self.healthy().await).await
    }

    fn running(&self) -> impl Iterator<Item = u16> + '_ {
        self.nodes
            .iter()
            .filter(|n| n.running())
            .map(PrivateRedis::port)
    }

    /// Runs `redis-cli` (against `port`, if given) off the runtime's worker threads.
    async fn cli<I, S>(&self, port: Option<u16>, args: I) -> std::io::Result<String>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut cmd = Command::new(&self.cli);
        if let Some(port) = port {
            cmd.args(["-h", "127.0.0.1", "-p", &port.to_string()]);
        }
        cmd.args(args.into_iter().map(Into::into));
        let out = tokio::task::spawn_blocking(move || cmd.output())
            .await
            .map_err(std::io::Error::other)??;
        if !out.status.success() {
            return Err(std::io::Error::other(format!(
                "redis-cli failed: {}",
                String::from_utf8_lossy(&out.stderr)
            )));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }
}
