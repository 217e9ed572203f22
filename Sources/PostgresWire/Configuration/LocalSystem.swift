// Facts about the local system that libpq consults: the OS user, its home directory, the default
// socket directory and the locale's encoding (for client_encoding=auto).

import Foundation

public enum LocalSystem {
    /// The environment variables libpq reads (PG*, HOME, and the locale ones for
    /// client_encoding=auto), taken straight from `environ`: cheaper than building the whole
    /// environment dictionary on every connect.
    public static func libpqEnvironment() -> [String: String] {
        var result: [String: String] = [:]
        var cursor = Platform.environment
        while let entry = cursor.pointee {
            cursor += 1
            // Names are compared as bytes; Strings are made only for the variables kept (PATH and
            // the like are long: decoding them as Characters cost most of a trust connect).
            guard let equals = strchr(entry, 0x3D) else { continue }  // "="
            let nameLength = equals - entry
            let name = UnsafeRawBufferPointer(start: entry, count: nameLength)
            func named(_ s: StaticString) -> Bool {
                s.utf8CodeUnitCount == nameLength && memcmp(entry, s.utf8Start, nameLength) == 0
            }
            let wanted = (nameLength >= 2 && name[0] == UInt8(ascii: "P") && name[1] == UInt8(ascii: "G"))
                || named("HOME") || named("LC_ALL") || named("LC_CTYPE") || named("LANG")
            guard wanted else { continue }
            result[String(decoding: name, as: UTF8.self)] = String(cString: equals + 1)
        }
        return result
    }

    /// libpq's compiled-in DEFAULT_PGSOCKET_DIR on Debian, used when it exists.
    static let debianSocketDirectory = "/var/run/postgresql"

    /// The socket directory used when no host is given: /var/run/postgresql if it is a directory,
    /// else /tmp.
    static var defaultSocketDirectory: String {
        FileStatus.isDirectory(debianSocketDirectory) ? debianSocketDirectory : "/tmp"
    }

    /// The home directory as libpq 15's pqGetHomeDirectory finds it: `$HOME` when set and not
    /// empty, else the password database's entry for the effective user (nil if that fails).
    /// `environment` is where HOME is read (`libpqEnvironment()` includes it).
    static func homeDirectory(environment: [String: String]) -> String? {
        if let home = environment["HOME"], !home.isEmpty { return home }
        if case .success(let user) = effectiveUser() { return user.home }
        return nil
    }

    /// getpwuid(geteuid()): (name, home directory), or an error with libpq's wording.
    static func effectiveUser() -> Result<(name: String, home: String), ConfigurationError> {
        let uid = geteuid()
        var pwd = passwd()
        var result: UnsafeMutablePointer<passwd>? = nil
        var bufferSize = max(Int(sysconf(Int32(_SC_GETPW_R_SIZE_MAX))), 1024)
        while true {
            var buffer = [CChar](repeating: 0, count: bufferSize)
            let rc = getpwuid_r(uid, &pwd, &buffer, bufferSize, &result)
            if rc == ERANGE && bufferSize < 1 << 20 {
                bufferSize *= 2
                continue
            }
            guard rc == 0, let entry = result?.pointee else {
                if rc != 0 {
                    return .failure(ConfigurationError(
                        "could not look up local user ID \(uid): \(String(cString: strerror(rc)))"))
                }
                return .failure(ConfigurationError("local user with ID \(uid) does not exist"))
            }
            let name = String(cString: entry.pw_name)
            let home = String(cString: entry.pw_dir)
            return .success((name, home))
        }
    }

    /// pg_get_encoding_from_locale for the locale named by LC_ALL / LC_CTYPE / LANG.
    static func encodingFromLocale(environment: [String: String]) -> String {
        let locale = ["LC_ALL", "LC_CTYPE", "LANG"].lazy.compactMap { environment[$0] }.first { !$0.isEmpty } ?? "C"
        guard let dot = locale.firstIndex(of: ".") else { return "SQL_ASCII" }
        var codeset = String(locale[locale.index(after: dot)...])
        if let at = codeset.firstIndex(of: "@") { codeset = String(codeset[..<at]) }
        let key = codeset.lowercased().filter { $0 != "-" && $0 != "_" }
        let table: [String: String] = [
            "utf8": "UTF8",
            "iso88591": "LATIN1", "iso88592": "LATIN2", "iso88593": "LATIN3", "iso88594": "LATIN4",
            "iso88595": "ISO_8859_5", "iso88596": "ISO_8859_6", "iso88597": "ISO_8859_7",
            "iso88598": "ISO_8859_8", "iso88599": "LATIN5", "iso885910": "LATIN6",
            "iso885913": "LATIN7", "iso885914": "LATIN8", "iso885915": "LATIN9", "iso885916": "LATIN10",
            "koi8r": "KOI8R", "koi8u": "KOI8U", "eucjp": "EUC_JP", "euckr": "EUC_KR", "euccn": "EUC_CN",
            "euctw": "EUC_TW", "gbk": "GBK", "gb18030": "GB18030", "big5": "BIG5", "sjis": "SJIS",
            "shiftjis": "SJIS", "cp1251": "WIN1251", "cp1252": "WIN1252", "ansix3.41968": "SQL_ASCII",
        ]
        return table[key] ?? "SQL_ASCII"
    }

    /// Whether getaddrinfo(AI_NUMERICHOST) accepts `address`; the error text otherwise.
    static func numericAddressError(_ address: String) -> String? {
        var hints = addrinfo()
        hints.ai_flags = AI_NUMERICHOST
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Platform.socketStream
        var result: UnsafeMutablePointer<addrinfo>? = nil
        let rc = getaddrinfo(address, nil, &hints, &result)
        if let result { freeaddrinfo(result) }
        if rc == 0 { return nil }
        return String(cString: gai_strerror(rc))
    }
}
