//! Politeness towards the scanned: a global connection rate and a minimum interval between
//! connections to the same address, applied in `net::connect` so no probe can bypass them.
//! (The per-IP concurrency cap is structural — the engine runs one host's probes one after
//! another — and the per-network cap is a semaphore per /24 held for a whole host.)

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

/// Connection pacing shared by every probe of a scan.
#[derive(Debug, Default)]
pub struct Pacer {
    rate: Option<DefaultDirectRateLimiter>,
    per_ip_interval: Duration,
    last: Mutex<HashMap<IpAddr, Instant>>,
}

impl Pacer {
    /// `rate`: new connections per second for the whole scan (None: unlimited);
    /// `per_ip_interval`: minimum time between two connections to one address.
    pub fn new(rate: Option<NonZeroU32>, per_ip_interval: Duration) -> Self {
        Self {
            rate: rate.map(|r| RateLimiter::direct(Quota::per_second(r))),
            per_ip_interval,
            last: Mutex::default(),
        }
    }

    /// Waits until a connection to `ip` is allowed, or until `deadline` (then returns false).
    ///
    /// The interval holds between the times connections are really let through, not between
    /// planned times: a waiter sleeps until the last start plus the interval, then checks
    /// again, and only the one that finds the interval passed takes the slot (recording
    /// now). Planning ahead would let a second waiter keep a slot computed from a first
    /// waiter's planned time even when that one's sleep ended late on a loaded machine (the
    /// simulator's accept times showed 171-179 ms for 250: docs/BENCHMARKS.md, issue 14).
    pub async fn wait(&self, ip: IpAddr, deadline: Instant) -> bool {
        if !self.per_ip_interval.is_zero() {
            loop {
                let next = {
                    let Ok(mut last) = self.last.lock() else {
                        return true;
                    };
                    let now = Instant::now();
                    match last.get(&ip) {
                        Some(t) if *t + self.per_ip_interval > now => {
                            Some(*t + self.per_ip_interval)
                        }
                        _ => {
                            last.insert(ip, now);
                            if last.len() > 100_000 {
                                // Forget addresses whose interval has long passed: bounded
                                // memory.
                                last.retain(|_, t| *t + self.per_ip_interval > now);
                            }
                            None
                        }
                    }
                };
                let Some(at) = next else { break };
                if at > deadline {
                    return false;
                }
                tokio::time::sleep_until(at).await;
            }
        }
        if let Some(r) = &self.rate {
            if tokio::time::timeout_at(deadline, r.until_ready())
                .await
                .is_err()
            {
                return false;
            }
            // The global rate may have held this connection back: its start is now.
            self.started(ip);
        }
        true
    }

    /// Records that a connection to `ip` really started (its `connect` returned, or its
    /// first datagram left): the next one waits the interval from here, not from the grant.
    ///
    /// A grant and the connect that follows it are two steps of one task; on a loaded
    /// machine the task may run the second one late, and the interval between two grants
    /// is then longer than the interval between the two SYNs a name server sees (the
    /// simulator's accept times showed 230 ms for 250: docs/BENCHMARKS.md, issue 14).
    /// Counting from after the connect bounds it by construction: the next SYN leaves at
    /// least the interval after this connect returned, which was after this SYN left.
    pub fn started(&self, ip: IpAddr) {
        if self.per_ip_interval.is_zero() {
            return;
        }
        if let Ok(mut last) = self.last.lock() {
            let now = Instant::now();
            let t = last.entry(ip).or_insert(now);
            *t = (*t).max(now);
        }
    }
}

/// Caps concurrent hosts per network (/24 for IPv4, /48 for IPv6).
#[derive(Debug)]
pub struct NetCap {
    cap: usize,
    nets: Mutex<HashMap<IpAddr, Arc<Semaphore>>>,
}

impl NetCap {
    /// At most `cap` hosts of one network at once (0: no cap).
    pub fn new(cap: usize) -> Self {
        Self {
            cap,
            nets: Mutex::default(),
        }
    }

    fn key(ip: IpAddr) -> IpAddr {
        match mxray_core::addr::canonical(ip) {
            IpAddr::V4(v4) => {
                let [a, b, c, _] = v4.octets();
                IpAddr::from([a, b, c, 0])
            }
            IpAddr::V6(v6) => {
                let s = v6.segments();
                IpAddr::from([s[0], s[1], s[2], 0, 0, 0, 0, 0])
            }
        }
    }

    /// Waits for a slot in `ip`'s network.
    pub async fn acquire(&self, ip: IpAddr) -> Option<OwnedSemaphorePermit> {
        if self.cap == 0 {
            return None;
        }
        let sem = {
            let mut nets = self.nets.lock().ok()?;
            nets.entry(Self::key(ip))
                .or_insert_with(|| Arc::new(Semaphore::new(self.cap)))
                .clone()
        };
        sem.acquire_owned().await.ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn per_ip_interval_spaces_connections() {
        let p = Pacer::new(None, Duration::from_secs(2));
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let other: IpAddr = "192.0.2.2".parse().unwrap();
        let start = Instant::now();
        let far = start + Duration::from_secs(60);
        assert!(p.wait(ip, far).await);
        assert!(p.wait(other, far).await);
        assert_eq!(Instant::now(), start, "first connections do not wait");
        assert!(p.wait(ip, far).await);
        assert_eq!(Instant::now() - start, Duration::from_secs(2));
        // A slot beyond the deadline is refused rather than waited for.
        assert!(!p.wait(ip, Instant::now() + Duration::from_secs(1)).await);
    }

    /// A connection that starts late (its task ran after its planned time) pushes the next
    /// one to the same address back: the interval holds between real connection times.
    #[tokio::test(start_paused = true)]
    async fn interval_counts_from_the_late_start() {
        use futures::FutureExt;
        let p = Pacer::new(None, Duration::from_secs(2));
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let start = Instant::now();
        let far = start + Duration::from_secs(60);
        assert!(p.wait(ip, far).await);
        let mut second = Box::pin(p.wait(ip, far));
        assert!((&mut second).now_or_never().is_none(), "planned at +2 s");
        tokio::time::advance(Duration::from_secs(3)).await;
        assert!(second.await);
        let late = Instant::now();
        assert_eq!(late - start, Duration::from_secs(3), "started 1 s late");
        assert!(p.wait(ip, far).await);
        assert_eq!(Instant::now() - late, Duration::from_secs(2));
    }

    /// Two waiters queued behind one that is itself late: each is let through at least the
    /// interval after the one before it really started, whatever their planned times were.
    #[tokio::test(start_paused = true)]
    async fn queued_waiters_keep_the_interval_from_real_starts() {
        use futures::FutureExt;
        let p = Pacer::new(None, Duration::from_secs(2));
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let start = Instant::now();
        let far = start + Duration::from_secs(60);
        assert!(p.wait(ip, far).await);
        let mut b = Box::pin(p.wait(ip, far));
        let mut c = Box::pin(p.wait(ip, far));
        assert!((&mut b).now_or_never().is_none());
        assert!((&mut c).now_or_never().is_none());
        // b's task runs late: 3 s after the first start. c is polled first at that moment
        // and takes the slot; b, polled right after, must wait another full interval.
        tokio::time::advance(Duration::from_secs(3)).await;
        assert_eq!((&mut c).now_or_never(), Some(true));
        let c_start = Instant::now();
        assert!((&mut b).now_or_never().is_none(), "b may not start with c");
        assert!(b.await);
        assert!(Instant::now() - c_start >= Duration::from_secs(2));
    }

    /// The interval counts from when the connection really started (`started` after the
    /// connect), not from the grant: a connect that returned 1 s after its grant pushes the
    /// next grant to 1 s + the interval.
    #[tokio::test(start_paused = true)]
    async fn interval_counts_from_the_connect_not_the_grant() {
        let p = Pacer::new(None, Duration::from_secs(2));
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let start = Instant::now();
        let far = start + Duration::from_secs(60);
        assert!(p.wait(ip, far).await);
        tokio::time::advance(Duration::from_secs(1)).await;
        p.started(ip);
        assert!(p.wait(ip, far).await);
        assert_eq!(Instant::now() - start, Duration::from_secs(3));
        // An earlier `started` never moves the last start back.
        let other: IpAddr = "192.0.2.2".parse().unwrap();
        assert!(p.wait(other, far).await);
        let t = Instant::now();
        p.started(other);
        assert!(p.wait(other, far).await);
        assert_eq!(Instant::now() - t, Duration::from_secs(2));
    }

    #[tokio::test]
    async fn net_cap_counts_per_24() {
        let c = NetCap::new(1);
        let a = c.acquire("192.0.2.1".parse().unwrap()).await;
        assert!(a.is_some());
        // Same /24: must wait (the future is not ready); another /24: free.
        use futures::FutureExt;
        assert!(
            c.acquire("192.0.2.200".parse().unwrap())
                .now_or_never()
                .is_none()
        );
        assert!(c.acquire("198.51.100.1".parse().unwrap()).await.is_some());
        drop(a);
        assert!(c.acquire("192.0.2.200".parse().unwrap()).await.is_some());
    }
}
