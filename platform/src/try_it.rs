//! The screen printed once the platform is ready: what runs where, the demo credentials, and lines
//! to paste. Every line works as printed (a test runs them).

use std::fmt;
use std::path::Path;

use crate::credentials::DemoCredentials;
use crate::settings::Addresses;

pub struct TryIt<'a> {
    pub addresses: &'a Addresses,
    pub issuer: &'a str,
    pub credentials: &'a DemoCredentials,
    pub data_dir: &'a Path,
    /// Whether emails are kept in the mailbox (rather than sent through `SMTP_URL`).
    pub mailbox: bool,
}

impl fmt::Display for TryIt<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f)?;
        writeln!(
            f,
            "The platform is ready: four services and a demo app in one process, state in {}.",
            self.data_dir.display()
        )?;
        writeln!(f)?;
        self.services(f)?;
        writeln!(f)?;
        self.browser(f)?;
        writeln!(f)?;
        self.shell(f)?;
        writeln!(f)?;
        writeln!(
            f,
            "Ctrl-C stops everything. The next start keeps the data; delete {} to start afresh.",
            self.data_dir.display()
        )
    }
}

impl TryIt<'_> {
    fn services(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Addresses {
            gateway,
            auth,
            email,
            jobs,
            demo,
        } = self.addresses;
        let issuer = self.issuer;
        let emails = if self.mailbox {
            format!("emails are kept in the mailbox: {email}/mail")
        } else {
            "emails go out through SMTP_URL".to_owned()
        };
        writeln!(
            f,
            "  resource-gateway  {gateway}   the front door of the APIs; /api/... is the demo API"
        )?;
        writeln!(
            f,
            "  auth-server       {auth}   OAuth 2.1 and OpenID Connect: \
                {issuer}/.well-known/openid-configuration"
        )?;
        writeln!(f, "  email-service     {email}   {emails}")?;
        writeln!(
            f,
            "  jobs-service      {jobs}   purges expired tokens every 10 minutes; {jobs}/metrics"
        )?;
        writeln!(
            f,
            "  demo app          {demo}   a third-party app, and the demo API's upstream"
        )
    }

    fn browser(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (demo, issuer, email) = (&self.addresses.demo, self.issuer, &self.addresses.email);
        let credentials = self.credentials;
        writeln!(f, "In a browser:")?;
        writeln!(
            f,
            "  sign in to the demo app   {demo}   as {} / {}",
            credentials.username, credentials.password
        )?;
        writeln!(
            f,
            "  register an account       {issuer}/register   (the verification email arrives in the mailbox)"
        )?;
        if self.mailbox {
            writeln!(f, "  read the emails           {email}/mail")?;
        }
        Ok(())
    }

    fn shell(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Addresses {
            gateway, auth, demo, ..
        } = self.addresses;
        let (service, secret) = (
            &self.credentials.service_client_id,
            &self.credentials.service_client_secret,
        );
        let basic = format!("-u {service}:{secret}");
        writeln!(f, "From a shell:")?;
        writeln!(f, "  # a token for the demo service (client_credentials)")?;
        writeln!(
            f,
            "  TOKEN=$(curl -s {basic} -d grant_type=client_credentials -d scope=api:read \
                {auth}/oauth2/token \
             | sed -E 's/.*\"access_token\":\"([^\"]+)\".*/\\1/')"
        )?;
        writeln!(
            f,
            "  # call the demo API through the gateway: it answers with the identity the gateway vouched for"
        )?;
        writeln!(
            f,
            "  curl -s -H \"Authorization: Bearer $TOKEN\" {gateway}/api/hello"
        )?;
        writeln!(f, "  # what the auth-server says of the token (introspection)")?;
        writeln!(f, "  curl -s {basic} -d token=$TOKEN {auth}/oauth2/introspect")?;
        writeln!(f, "  # revoke it: from now on the gateway answers 401")?;
        writeln!(f, "  curl -s {basic} -d token=$TOKEN {auth}/oauth2/revoke")?;
        writeln!(
            f,
            "  curl -s -i -H \"Authorization: Bearer $TOKEN\" {gateway}/api/hello"
        )?;
        writeln!(
            f,
            "  # where the demo \
                app's sign-in starts: the authorization request with PKCE (open it in a browser)"
        )?;
        writeln!(f, "  curl -s -o /dev/null -w '%{{redirect_url}}\\n' {demo}/login")
    }
}
