//! The platform's listening sockets, bound before anything else starts, so a busy port stops the
//! start with one line that says which service, which port, and the setting that moves it.

use std::net::TcpListener;

use crate::error::StartError;
use crate::settings::{Addresses, PlatformSettings};

/// One bound socket per service.
pub struct Listeners {
    pub gateway: TcpListener,
    pub auth: TcpListener,
    pub email: TcpListener,
    pub jobs: TcpListener,
    pub demo: TcpListener,
}

impl Listeners {
    pub fn bind(settings: &PlatformSettings) -> Result<Listeners, StartError> {
        Ok(Listeners {
            gateway: bind(
                "resource-gateway",
                "GATEWAY_LISTEN_ADDR",
                &settings.gateway.listen_addr,
            )?,
            auth: bind("auth-server", "AUTH_LISTEN_ADDR", &settings.auth.listen_addr)?,
            email: bind("email-service", "EMAIL_LISTEN_ADDR", &settings.email.listen_addr)?,
            jobs: bind("jobs-service", "JOBS_LISTEN_ADDR", &settings.jobs.listen_addr)?,
            demo: bind(
                "the demo app",
                "PLATFORM_DEMO_LISTEN_ADDR",
                &settings.demo_listen_addr,
            )?,
        })
    }

    /// Where each listener can be reached.
    pub fn addresses(&self) -> Result<Addresses, StartError> {
        let local = |listener: &TcpListener| {
            listener
                .local_addr()
                .map_err(|error| StartError::new(format!("a bound socket has no address: {error}")))
        };
        Ok(Addresses::of(
            local(&self.gateway)?,
            local(&self.auth)?,
            local(&self.email)?,
            local(&self.jobs)?,
            local(&self.demo)?,
        ))
    }
}

fn bind(service: &str, variable: &str, address: &str) -> Result<TcpListener, StartError> {
    TcpListener::bind(address).map_err(|error| {
        if error.kind() == std::io::ErrorKind::AddrInUse {
            StartError::new(format!(
                "{address} ({service}) is already in use: stop what listens there, \
                 or set {variable} to another address, e.g. {variable}=127.0.0.1:0 for any free port"
            ))
        } else {
            StartError::new(format!(
                "{service} cannot listen on {address} ({variable}): {error}"
            ))
        }
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_busy_port_names_the_service_and_the_setting_that_moves_it() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = taken.local_addr().unwrap().to_string();

        let refused = super::bind("auth-server", "AUTH_LISTEN_ADDR", &address)
            .unwrap_err()
            .to_string();

        assert!(refused.contains("already in use"), "{refused}");
        assert!(refused.contains("auth-server"), "{refused}");
        assert!(refused.contains("AUTH_LISTEN_ADDR"), "{refused}");
    }
}
