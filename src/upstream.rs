//! The providers in force: the registry (one HTTP client, one client per configured provider) and
//! the router, built from the active configuration and rebuilt whenever it changes.

use std::{collections::HashMap, sync::Arc};

use crate::{
    config::{Config, Problem},
    providers::{Policy, ProviderConfig, Registry, RouteTable, Router},
};

/// A registry and router built from one configuration. Cheap to clone (shared).
#[derive(Clone)]
pub struct Upstream {
    pub registry: Arc<Registry>,
    pub router: Arc<Router>,
}

impl Upstream {
    /// Builds every provider the configuration names; problems (unknown keys, unknown kinds, refused
    /// base URLs) are returned for the user, and the other providers still work.
    pub fn build(config: &Config) -> (Upstream, Vec<Problem>) {
        let mut problems = Vec::new();
        let mut configs = Vec::new();
        for (name, value) in &config.providers {
            match serde_json::from_value::<ProviderConfig>(value.clone()) {
                Ok(mut cfg) => {
                    cfg.name = name.clone();
                    configs.push(cfg);
                }
                Err(e) => problems.push(problem(format!("[providers.{name}]: {e}"))),
            }
        }
        let (registry, errors) = Registry::new(&configs);
        problems.extend(errors.into_iter().map(|e| problem(e.to_string())));
        let routes: HashMap<String, Vec<String>> = config.routes.clone().into_iter().collect();
        let per_language = config
            .language
            .iter()
            .filter(|(_, l)| !l.routes.is_empty())
            .map(|(lang, l)| (lang.clone(), l.routes.clone().into_iter().collect()))
            .collect();
        let router = Router::new(RouteTable::new(routes, per_language), Policy::default())
            .with_privacy(crate::privacy::Settings::from_config(config));
        (Upstream { registry: Arc::new(registry), router: Arc::new(router) }, problems)
    }
}

fn problem(message: String) -> Problem {
    Problem { origin: "configuration".into(), line: None, column: None, message, is_error: false }
}
