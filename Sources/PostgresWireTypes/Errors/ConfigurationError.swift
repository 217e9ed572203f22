import Foundation

/// A bad connection string, environment value or option. `message` uses libpq's wording
/// (without libpq's trailing newline) and never contains a password.
public struct ConfigurationError: Error, Sendable, CustomStringConvertible, Equatable {
    public let message: String
    public var description: String { message }

    public init(_ message: String) {
        self.message = message
    }
}

extension ConfigurationError: LocalizedError {
    public var errorDescription: String? { description }
}
