// Interim engine: the Go text/template implementation replaces this file.
#![allow(dead_code)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TemplateError {
    Parse(String),
    Execute(String),
}
impl std::fmt::Display for TemplateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TemplateError::Parse(m) => write!(f, "parse template: {m}"),
            TemplateError::Execute(m) => write!(f, "execute template: {m}"),
        }
    }
}
pub(crate) fn render(
    source: &str,
    data: &std::collections::BTreeMap<String, String>,
) -> Result<String, TemplateError> {
    let _ = data;
    Err(TemplateError::Execute(source.to_owned()))
}
