/// A place in a spec file: 1-based line and column, columns counted in Unicode scalars.
public struct SourceLocation: Sendable, Hashable, CustomStringConvertible {
    public var file: String
    public var line: Int
    public var column: Int

    public init(file: String, line: Int, column: Int) {
        self.file = file
        self.line = line
        self.column = column
    }

    public var description: String { "\(self.file):\(self.line):\(self.column)" }
}

/// One thing wrong with the input, printed as `FILE:LINE:COL: error: FIELD.PATH: message`.
public struct SpecDiagnostic: Sendable, Hashable, CustomStringConvertible {
    public var location: SourceLocation
    /// The dotted path of the field, e.g. `spec.cpu.cores`; empty for whole-document problems.
    public var fieldPath: String
    public var message: String

    public init(location: SourceLocation, fieldPath: String, message: String) {
        self.location = location
        self.fieldPath = fieldPath
        self.message = message
    }

    public var description: String {
        self.fieldPath.isEmpty
            ? "\(self.location): error: \(self.message)"
            : "\(self.location): error: \(self.fieldPath): \(self.message)"
    }
}
