/// How `get`, `apply` and `validate` print: a table for people, YAML or JSON for scripts.
public enum OutputFormat: String, Sendable, CaseIterable {
    case table, yaml, json, name
}
