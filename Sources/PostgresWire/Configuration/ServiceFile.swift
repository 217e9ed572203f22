// Connection service files (pg_service.conf), as fe-connect.c's parseServiceInfo/parseServiceFile.

import Foundation

enum ServiceFile {
    /// Where libpq looks for the system-wide pg_service.conf when PGSYSCONFDIR is unset
    /// (Debian's `pg_config --sysconfdir`).
    static let defaultSystemConfigurationDirectory = "/etc/postgresql-common"

    /// Fills options that are still unset from the service named by `service` or PGSERVICE.
    static func apply(
        to options: inout [String: String], environment: [String: String], homeDirectory: String?
    ) throws(ConfigurationError) {
        guard let service = options["service"] ?? environment["PGSERVICE"] else { return }

        var groupFound = false
        var searchedUserFile = false
        if let file = environment["PGSERVICEFILE"] {
            searchedUserFile = true
            groupFound = try parse(file: file, service: service, into: &options)
        } else if let home = homeDirectory, !home.isEmpty {
            let file = home + "/.pg_service.conf"
            if FileStatus.exists(file) {
                searchedUserFile = true
                groupFound = try parse(file: file, service: service, into: &options)
            }
        }
        if searchedUserFile && groupFound { return }

        let sysconf = environment["PGSYSCONFDIR"] ?? defaultSystemConfigurationDirectory
        let systemFile = sysconf + "/pg_service.conf"
        if FileStatus.exists(systemFile) {
            groupFound = try parse(file: systemFile, service: service, into: &options)
        }
        if !groupFound {
            throw ConfigurationError("definition of service \"\(service)\" not found")
        }
    }

    /// Returns whether the group was found; throws on an unreadable file or a syntax error.
    static func parse(file: String, service: String, into options: inout [String: String]) throws(ConfigurationError) -> Bool {
        guard let data = FileStatus.readAll(file) else {
            throw ConfigurationError("service file \"\(file)\" not found")
        }
        var groupFound = false
        var lineNumber = 0
        var lines = data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
        let endsWithNewline = data.last == UInt8(ascii: "\n")
        if endsWithNewline || data.isEmpty { lines.removeLast() }
        let serviceBytes = Array(service.utf8)
        for (index, rawLine) in lines.enumerated() {
            lineNumber += 1
            // libpq reads lines with fgets into a 1024-byte buffer.
            let hasNewline = index < lines.count - 1 || endsWithNewline
            if rawLine.count + (hasNewline ? 1 : 0) >= 1023 {
                throw ConfigurationError("line \(lineNumber) too long in service file \"\(file)\"")
            }
            var line = Array(rawLine)
            while let last = line.last, ConninfoParser.isCSpace(last) { line.removeLast() }
            while let first = line.first, ConninfoParser.isCSpace(first) { line.removeFirst() }
            if line.isEmpty || line[0] == UInt8(ascii: "#") { continue }

            if line[0] == UInt8(ascii: "[") {
                if groupFound { return true }  // end of the wanted group
                let name = line.dropFirst()
                groupFound = name.starts(with: serviceBytes)
                    && name.count > serviceBytes.count
                    && name[name.startIndex + serviceBytes.count] == UInt8(ascii: "]")
                continue
            }
            guard groupFound else { continue }
            guard let eq = line.firstIndex(of: UInt8(ascii: "=")) else {
                throw ConfigurationError("syntax error in service file \"\(file)\", line \(lineNumber)")
            }
            let key = ConninfoParser.string(line[0..<eq])
            let value = ConninfoParser.string(line[(eq + 1)...])
            if key == "service" {
                throw ConfigurationError(
                    "nested service specifications not supported in service file \"\(file)\", line \(lineNumber)")
            }
            guard ConninfoOptions.isKnown(key) else {
                throw ConfigurationError("syntax error in service file \"\(file)\", line \(lineNumber)")
            }
            // Never override an explicit setting.
            if options[key] == nil { options[key] = value }
        }
        return groupFound
    }
}

/// Small file-system helpers on top of the C library.
enum FileStatus {
    static func status(_ path: String) -> stat? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        return st
    }

    static func exists(_ path: String) -> Bool { status(path) != nil }

    static func isDirectory(_ path: String) -> Bool {
        guard let st = status(path) else { return false }
        return (st.st_mode & S_IFMT) == S_IFDIR
    }

    static func readAll(_ path: String) -> [UInt8]? {
        guard let file = fopen(path, "r") else { return nil }
        defer { fclose(file) }
        var result: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = fread(&buffer, 1, buffer.count, file)
            if n > 0 { result += buffer[0..<n] }
            if n < buffer.count { break }
        }
        if ferror(file) != 0 { return nil }
        return result
    }
}
