import Foundation
import PostgresWire

// The posix_spawn spellings that differ between Linux (Glibc) and Darwin, for ProcessRunner. They
// extend PostgresWire's `Platform` (Sources/PostgresWire/Transport/Platform.swift), the one place
// for the other platform calls; they live here because only the test helpers spawn processes.
extension Platform {
    /// `posix_spawn_file_actions_t` as `posix_spawn_file_actions_init` takes it (an optional
    /// pointer on Darwin, a struct on Glibc).
    #if canImport(Darwin)
    package typealias SpawnFileActions = posix_spawn_file_actions_t?
    #else
    package typealias SpawnFileActions = posix_spawn_file_actions_t
    #endif

    /// `posix_spawnattr_t` as `posix_spawnattr_init` takes it (as `SpawnFileActions`).
    #if canImport(Darwin)
    package typealias SpawnAttributes = posix_spawnattr_t?
    #else
    package typealias SpawnAttributes = posix_spawnattr_t
    #endif

    /// `POSIX_SPAWN_SETSID`, which neither module exports (a glibc 2.26 / macOS 10.15 extension).
    #if canImport(Darwin)
    package static let spawnSetSessionFlag: Int32 = 0x400
    #else
    package static let spawnSetSessionFlag: Int32 = 0x80
    #endif
}
