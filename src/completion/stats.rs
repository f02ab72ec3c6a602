//! Local usage statistics (never sent anywhere): per provider and language, requests, cache hits,
//! cancellations, accepts, latency percentiles, tokens and estimated cost.

/// The human-readable report `switchboard stats` prints.
pub fn report() -> String {
    String::from("no statistics yet")
}
