/// The one error type of HyperMesh's core modules.
///
/// Errors compare on ``code`` only, so tests can write
/// `#expect(throws: HyperMeshError.notFound()) { … }`.
public struct HyperMeshError: Error, Sendable, CustomStringConvertible, Equatable {
    /// What kind of failure this is; compare errors on this.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Value: String, Sendable {
            case invalidSpec, invalidArgument, notFound, conflict, storage, io, corruptData, internalError
        }
        private let value: Value
        private init(_ value: Value) { self.value = value }

        /// Input (a spec, a flag) is not acceptable.
        public static let invalidSpec = Code(.invalidSpec)
        /// A command-line argument or API parameter is not acceptable.
        public static let invalidArgument = Code(.invalidArgument)
        /// The named object does not exist.
        public static let notFound = Code(.notFound)
        /// The operation conflicts with the current state.
        public static let conflict = Code(.conflict)
        /// The state database failed.
        public static let storage = Code(.storage)
        /// A file or socket operation failed.
        public static let io = Code(.io)
        /// Stored bytes do not decode.
        public static let corruptData = Code(.corruptData)
        /// An invariant did not hold.
        public static let internalError = Code(.internalError)

        public var description: String { self.value.rawValue }
    }

    /// What kind of failure this is.
    public var code: Code
    /// One line saying what went wrong and where.
    public var message: String
    /// The underlying error, when there is one.
    public var cause: (any Error & Sendable)?
    /// Where in HyperMesh's source the error was made.
    public var location: String

    public init(code: Code, message: String, cause: (any Error & Sendable)? = nil,
                file: String = #fileID, line: Int = #line) {
        self.code = code
        self.message = message
        self.cause = cause
        self.location = "\(file):\(line)"
    }

    public var description: String {
        if let cause { return "\(self.code): \(self.message) (\(cause))" }
        return "\(self.code): \(self.message)"
    }

    public static func == (lhs: HyperMeshError, rhs: HyperMeshError) -> Bool { lhs.code == rhs.code }

    // MARK: - Factories

    public static func invalidSpec(_ message: String = "", file: String = #fileID, line: Int = #line) -> Self {
        Self(code: .invalidSpec, message: message, file: file, line: line)
    }
    public static func invalidArgument(_ message: String = "", file: String = #fileID, line: Int = #line) -> Self {
        Self(code: .invalidArgument, message: message, file: file, line: line)
    }
    public static func notFound(_ message: String = "", file: String = #fileID, line: Int = #line) -> Self {
        Self(code: .notFound, message: message, file: file, line: line)
    }
    public static func conflict(_ message: String = "", file: String = #fileID, line: Int = #line) -> Self {
        Self(code: .conflict, message: message, file: file, line: line)
    }
    public static func storage(_ message: String = "", cause: (any Error & Sendable)? = nil,
                               file: String = #fileID, line: Int = #line) -> Self {
        Self(code: .storage, message: message, cause: cause, file: file, line: line)
    }
    public static func io(_ message: String = "", cause: (any Error & Sendable)? = nil,
                          file: String = #fileID, line: Int = #line) -> Self {
        Self(code: .io, message: message, cause: cause, file: file, line: line)
    }
    public static func corruptData(_ message: String = "", file: String = #fileID, line: Int = #line) -> Self {
        Self(code: .corruptData, message: message, file: file, line: line)
    }
    public static func internalError(_ message: String = "", file: String = #fileID, line: Int = #line) -> Self {
        Self(code: .internalError, message: message, file: file, line: line)
    }
}
