//! Email templates: a subject, a text part and an HTML part per template, rendered with minijinja.
//! The built-in ones are compiled in; a team brands them by putting files of the same name in
//! `templates_dir`, which win over the built-in ones. A missing variable is an error (the message
//! is dead-lettered), never an email with a hole in it.

use std::collections::BTreeMap;
use std::path::PathBuf;

use minijinja::{Environment, UndefinedBehavior};
use shared::messaging::contracts::EmailTemplate;

/// The built-in files, by name.
const BUILT_IN: &[(&str, &str)] = &[
    ("base.html", include_str!("../templates/base.html")),
    (
        "verify-email.subject.txt",
        include_str!("../templates/verify-email.subject.txt"),
    ),
    ("verify-email.txt", include_str!("../templates/verify-email.txt")),
    (
        "verify-email.html",
        include_str!("../templates/verify-email.html"),
    ),
    (
        "verify-email-reminder.subject.txt",
        include_str!("../templates/verify-email-reminder.subject.txt"),
    ),
    (
        "verify-email-reminder.txt",
        include_str!("../templates/verify-email-reminder.txt"),
    ),
    (
        "verify-email-reminder.html",
        include_str!("../templates/verify-email-reminder.html"),
    ),
    (
        "password-reset.subject.txt",
        include_str!("../templates/password-reset.subject.txt"),
    ),
    (
        "password-reset.txt",
        include_str!("../templates/password-reset.txt"),
    ),
    (
        "password-reset.html",
        include_str!("../templates/password-reset.html"),
    ),
    (
        "password-changed.subject.txt",
        include_str!("../templates/password-changed.subject.txt"),
    ),
    (
        "password-changed.txt",
        include_str!("../templates/password-changed.txt"),
    ),
    (
        "password-changed.html",
        include_str!("../templates/password-changed.html"),
    ),
    (
        "security-alert.subject.txt",
        include_str!("../templates/security-alert.subject.txt"),
    ),
    (
        "security-alert.txt",
        include_str!("../templates/security-alert.txt"),
    ),
    (
        "security-alert.html",
        include_str!("../templates/security-alert.html"),
    ),
    (
        "cleanup-report.subject.txt",
        include_str!("../templates/cleanup-report.subject.txt"),
    ),
    (
        "cleanup-report.txt",
        include_str!("../templates/cleanup-report.txt"),
    ),
    (
        "cleanup-report.html",
        include_str!("../templates/cleanup-report.html"),
    ),
    ("test.subject.txt", include_str!("../templates/test.subject.txt")),
    ("test.txt", include_str!("../templates/test.txt")),
    ("test.html", include_str!("../templates/test.html")),
];

/// A rendered email.
#[derive(Debug, Clone)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
}

#[derive(Debug, thiserror::Error)]
#[error("template {template}: {message}")]
pub struct RenderError {
    template: &'static str,
    message: String,
}

/// The template set of the service.
pub struct Templates {
    environment: Environment<'static>,
}

impl Templates {
    /// Built-in templates, overridden by the files in `directory` (if not empty).
    pub fn load(directory: &str) -> anyhow::Result<Templates> {
        let overrides = (!directory.is_empty()).then(|| PathBuf::from(directory));
        if let Some(path) = &overrides
            && !path.is_dir()
        {
            anyhow::bail!("templates_dir {} is not a directory", path.display());
        }
        let mut environment = Environment::new();
        environment.set_undefined_behavior(UndefinedBehavior::Strict);
        environment.set_loader(move |name| {
            if let Some(directory) = &overrides {
                let candidate = directory.join(name);
                // Names come from our own template list, never from a message; still refuse paths.
                if !name.contains('/') && candidate.is_file() {
                    return std::fs::read_to_string(&candidate).map(Some).map_err(|error| {
                        minijinja::Error::new(minijinja::ErrorKind::InvalidOperation, error.to_string())
                    });
                }
            }
            Ok(BUILT_IN
                .iter()
                .find(|(file, _)| *file == name)
                .map(|(_, source)| (*source).to_owned()))
        });
        let templates = Templates { environment };
        // Fail at start, not at the first message, if an override does not parse.
        for template in EmailTemplate::ALL {
            for suffix in ["subject.txt", "txt", "html"] {
                templates
                    .environment
                    .get_template(&format!("{}.{suffix}", template.name()))
                    .map_err(|error| anyhow::anyhow!("template {}: {error}", template.name()))?;
            }
        }
        Ok(templates)
    }

    pub fn render(
        &self,
        template: EmailTemplate,
        variables: &BTreeMap<String, String>,
    ) -> Result<Rendered, RenderError> {
        let mut context: BTreeMap<String, minijinja::Value> = variables
            .iter()
            .map(|(key, value)| (key.clone(), minijinja::Value::from(value.as_str())))
            .collect();
        context.insert(
            "variables".to_owned(),
            minijinja::Value::from_serialize(variables),
        );
        let render = |suffix: &str| {
            self.environment
                .get_template(&format!("{}.{suffix}", template.name()))
                .and_then(|compiled| compiled.render(&context))
                .map_err(|error| RenderError {
                    template: template.name(),
                    message: error.to_string(),
                })
        };
        Ok(Rendered {
            subject: render("subject.txt")?
                .lines()
                .next()
                .unwrap_or_default()
                .trim()
                .to_owned(),
            text: render("txt")?,
            html: render("html")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn variables(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn every_built_in_template_renders_with_its_documented_variables() {
        let templates = Templates::load("").unwrap();
        let reset = templates
            .render(
                EmailTemplate::PasswordReset,
                &variables(&[
                    ("username", "ada"),
                    ("link", "https://id/x?t=1&u=<b>"),
                    ("expires_in_minutes", "60"),
                ]),
            )
            .unwrap();
        assert_eq!(reset.subject, "Reset your password");
        assert!(reset.text.contains("https://id/x?t=1&u=<b>"));
        // The HTML part escapes what it inserts.
        assert!(reset.html.contains("t=1&amp;u=&lt;b&gt;"), "{}", reset.html);
        let report = templates
            .render(
                EmailTemplate::CleanupReport,
                &variables(&[("period", "2026-11-28"), ("tokens_purged", "12")]),
            )
            .unwrap();
        assert!(report.subject.contains("2026-11-28"));
        assert!(report.text.contains("tokens_purged: 12"));
    }

    #[test]
    fn a_missing_variable_is_an_error_not_a_hole() {
        let templates = Templates::load("").unwrap();
        let error = templates.render(EmailTemplate::VerifyEmail, &variables(&[("username", "ada")]));
        assert!(error.is_err());
    }

    #[test]
    fn files_in_the_templates_directory_override_the_built_in_ones() {
        let directory = tempfile::tempdir().unwrap();
        std::fs::write(
            directory.path().join("password-changed.subject.txt"),
            "ACME: new password for {{ username }}",
        )
        .unwrap();
        let templates = Templates::load(directory.path().to_str().unwrap()).unwrap();
        let rendered = templates
            .render(EmailTemplate::PasswordChanged, &variables(&[("username", "ada")]))
            .unwrap();
        assert_eq!(rendered.subject, "ACME: new password for ada");
        assert!(rendered.text.contains("Your password was just changed"));
    }

    #[test]
    fn a_broken_override_stops_the_service_at_start() {
        let directory = tempfile::tempdir().unwrap();
        std::fs::write(directory.path().join("test.txt"), "{% if %}").unwrap();
        assert!(Templates::load(directory.path().to_str().unwrap()).is_err());
    }
}
