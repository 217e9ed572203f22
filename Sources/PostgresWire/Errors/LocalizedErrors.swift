import Foundation

// Every public error type gives its full message as `localizedDescription` (Foundation's default for
// a Swift error is "The operation could not be completed"), the same text as `description`.

extension PostgresCodingError: LocalizedError {
    public var errorDescription: String? { description }
}

extension ConfigurationError: LocalizedError {
    public var errorDescription: String? { description }
}
