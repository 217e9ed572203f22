// Small, dependency-free helpers for running external programs (psql, initdb, pg_ctl, ...) from tests.
//
// Implemented directly on posix_spawn + poll so that stdout/stderr are drained concurrently (no pipe
// deadlocks), stdin can be fed, and a timeout reliably kills the whole process group.

import Foundation
import PostgresWire

/// The outcome of `runProcess`.
public struct ProcessResult: Sendable, CustomStringConvertible {
    /// The exit code. A process killed by signal N reports `128 + N` (shell convention).
    public let status: Int32
    public let stdout: String
    public let stderr: String
    public let stdoutData: [UInt8]

    public init(status: Int32, stdout: String, stderr: String, stdoutData: [UInt8]) {
        self.status = status
        self.stdout = stdout
        self.stderr = stderr
        self.stdoutData = stdoutData
    }

    public var succeeded: Bool { status == 0 }

    public var description: String {
        "exit status \(status)\n--- stdout ---\n\(stdout)\n--- stderr ---\n\(stderr)"
    }
}

public enum ProcessError: Error, CustomStringConvertible, Sendable {
    /// A bare executable name was not found on PATH (or an explicit path is not executable).
    case executableNotFound(String)
    /// `posix_spawn` (or creating the pipes) failed with the given errno.
    case spawnFailed(executable: String, errno: Int32)
    /// The process ran longer than `timeout` seconds and was killed; `partial` holds what it printed.
    case timedOut(executable: String, arguments: [String], timeout: Double, partial: ProcessResult)

    public var description: String {
        switch self {
        case .executableNotFound(let name):
            return "executable not found: \(name)"
        case .spawnFailed(let executable, let code):
            return "failed to spawn \(executable): \(String(cString: strerror(code))) (errno \(code))"
        case .timedOut(let executable, let arguments, let timeout, let partial):
            return "\(([executable] + arguments).joined(separator: " ")) timed out after \(timeout)s and was killed\n\(partial)"
        }
    }
}

/// Runs `executable` (a path, or a bare name looked up on PATH) with `arguments` and waits for it.
///
/// - Parameters:
///   - environment: the complete environment of the child; `nil` inherits the current process's.
///   - stdin: bytes written to the child's stdin (then closed); `nil` connects stdin to /dev/null.
///   - timeout: seconds; on expiry the child's whole process group is SIGKILLed and `ProcessError.timedOut` thrown.
///   - currentDirectory: working directory of the child; `nil` keeps the current one.
///   - onStart: called with the child's PID once it runs (e.g. to start a thread that signals it later).
/// A non-zero exit status is *not* an error: inspect `ProcessResult.status`.
public func runProcess(
    _ executable: String,
    _ arguments: [String],
    environment: [String: String]? = nil,
    stdin: [UInt8]? = nil,
    timeout: Double = 60,
    currentDirectory: String? = nil,
    onStart: ((pid_t) -> Void)? = nil
) throws -> ProcessResult {
    let path = try resolveExecutable(executable, environment: environment)

    // Parent-side ends are marked close-on-exec; the child gets its ends via dup2 onto 0/1/2.
    let stdoutPipe = try makePipe(executable)
    var stdoutRead: Int32 = stdoutPipe.read
    let stdoutWrite = stdoutPipe.write
    let stderrPipe: (read: Int32, write: Int32)
    do { stderrPipe = try makePipe(executable) } catch {
        close(stdoutPipe.read); close(stdoutPipe.write); throw error
    }
    var stderrRead: Int32 = stderrPipe.read
    let stderrWrite = stderrPipe.write

    // stdin: a socket pair (so the parent can write with Platform.send and never gets SIGPIPE), or /dev/null.
    var stdinParent: Int32 = -1
    let stdinChild: Int32
    if stdin != nil {
        var pair: [Int32] = [-1, -1]
        guard socketpair(AF_UNIX, Platform.socketStream, 0, &pair) == 0 else {
            let code = errno
            [stdoutRead, stdoutWrite, stderrRead, stderrWrite].forEach { _ = close($0) }
            throw ProcessError.spawnFailed(executable: executable, errno: code)
        }
        setCloseOnExec(pair[0]); setCloseOnExec(pair[1])
        stdinParent = pair[0]
        stdinChild = pair[1]
        _ = fcntl(stdinParent, F_SETFL, fcntl(stdinParent, F_GETFL) | O_NONBLOCK)
        Platform.disableSigPipe(stdinParent)
    } else {
        stdinChild = open("/dev/null", O_RDONLY | O_CLOEXEC)
    }

    let pid: pid_t
    do {
        pid = try spawn(
            path: path, displayName: executable, arguments: arguments, environment: environment,
            stdinFD: stdinChild, stdoutFD: stdoutWrite, stderrFD: stderrWrite,
            currentDirectory: currentDirectory, newSession: false)
    } catch {
        [stdoutRead, stdoutWrite, stderrRead, stderrWrite, stdinChild, stdinParent].forEach { if $0 >= 0 { _ = close($0) } }
        throw error
    }
    // The child holds its own copies now.
    close(stdoutWrite)
    close(stderrWrite)
    if stdinChild >= 0 { close(stdinChild) }
    onStart?(pid)

    var outData: [UInt8] = []
    var errData: [UInt8] = []
    let input = stdin ?? []
    var inputOffset = 0
    if stdinParent >= 0 && input.isEmpty {
        close(stdinParent); stdinParent = -1
    }

    let deadline = monotonicSeconds() + timeout
    var exited = false
    var exitStatus: Int32 = -1
    var buffer = [UInt8](repeating: 0, count: 65536)

    func drain(_ fd: inout Int32, into data: inout [UInt8]) {
        let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if n > 0 {
            data.append(contentsOf: buffer[0..<n])
        } else if n == 0 || (errno != EINTR && errno != EAGAIN) {
            close(fd); fd = -1
        }
    }

    while true {
        if !exited {
            var raw: Int32 = 0
            let r = waitpid(pid, &raw, WNOHANG)
            if r == pid {
                exited = true
                exitStatus = decodeWaitStatus(raw)
            } else if r < 0 && errno == ECHILD {
                exited = true  // reaped by someone else; status unknown
            }
        }
        if exited && stdoutRead < 0 && stderrRead < 0 { break }

        let remaining = deadline - monotonicSeconds()
        if remaining <= 0 {
            if !exited {
                kill(-pid, SIGKILL)
                kill(pid, SIGKILL)
                var raw: Int32 = 0
                while waitpid(pid, &raw, 0) < 0 && errno == EINTR {}
            }
            [stdoutRead, stderrRead, stdinParent].forEach { if $0 >= 0 { _ = close($0) } }
            throw ProcessError.timedOut(
                executable: executable, arguments: arguments, timeout: timeout,
                partial: makeResult(status: exited ? exitStatus : 128 + SIGKILL, out: outData, err: errData))
        }

        var pollFDs: [pollfd] = []
        if stdoutRead >= 0 { pollFDs.append(pollfd(fd: stdoutRead, events: Int16(POLLIN), revents: 0)) }
        if stderrRead >= 0 { pollFDs.append(pollfd(fd: stderrRead, events: Int16(POLLIN), revents: 0)) }
        if stdinParent >= 0 { pollFDs.append(pollfd(fd: stdinParent, events: Int16(POLLOUT), revents: 0)) }
        // Once the child has exited only drain what is already buffered: a grandchild (e.g. a daemon)
        // may keep the pipes open forever.
        let waitMillis = exited ? 0 : Int32(min(remaining, 0.05) * 1000) + 1
        let ready = poll(&pollFDs, nfds_t(pollFDs.count), waitMillis)
        if ready < 0 {
            if errno == EINTR { continue }
            break
        }
        if ready == 0 {
            if exited { break }
            continue
        }
        for entry in pollFDs where entry.revents != 0 {
            if entry.fd == stdoutRead {
                drain(&stdoutRead, into: &outData)
            } else if entry.fd == stderrRead {
                drain(&stderrRead, into: &errData)
            } else if entry.fd == stdinParent {
                let n = input.withUnsafeBytes { raw in  // non-blocking socket (O_NONBLOCK above)
                    Platform.send(stdinParent, raw.baseAddress! + inputOffset, raw.count - inputOffset)
                }
                if n > 0 {
                    inputOffset += n
                    if inputOffset >= input.count { close(stdinParent); stdinParent = -1 }
                } else if n < 0 && errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK {
                    close(stdinParent); stdinParent = -1  // child stopped reading (EPIPE etc.)
                }
            }
        }
    }

    [stdoutRead, stderrRead, stdinParent].forEach { if $0 >= 0 { _ = close($0) } }
    if !exited {
        var raw: Int32 = 0
        while waitpid(pid, &raw, 0) < 0 && errno == EINTR {}
        exitStatus = decodeWaitStatus(raw)
    }
    return makeResult(status: exitStatus, out: outData, err: errData)
}

/// Starts a process that is not waited for: stdin/stdout/stderr on /dev/null, in a new session (so it
/// survives the test process and its process group). Used for the cluster watchdog.
func spawnDetached(_ executable: String, _ arguments: [String], environment: [String: String]? = nil) throws -> pid_t {
    let path = try resolveExecutable(executable, environment: environment)
    let devNullIn = open("/dev/null", O_RDONLY | O_CLOEXEC)
    let devNullOut = open("/dev/null", O_WRONLY | O_CLOEXEC)
    defer { close(devNullIn); close(devNullOut) }
    return try spawn(
        path: path, displayName: executable, arguments: arguments, environment: environment,
        stdinFD: devNullIn, stdoutFD: devNullOut, stderrFD: devNullOut,
        currentDirectory: "/", newSession: true)
}

// MARK: - Internals

private func makeResult(status: Int32, out: [UInt8], err: [UInt8]) -> ProcessResult {
    ProcessResult(
        status: status,
        stdout: String(decoding: out, as: UTF8.self),
        stderr: String(decoding: err, as: UTF8.self),
        stdoutData: out)
}

private func decodeWaitStatus(_ raw: Int32) -> Int32 {
    let signal = raw & 0x7f
    if signal == 0 { return (raw >> 8) & 0xff }  // WIFEXITED -> WEXITSTATUS
    return 128 + signal                           // WIFSIGNALED -> 128 + WTERMSIG
}

private func monotonicSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

private func setCloseOnExec(_ fd: Int32) {
    _ = fcntl(fd, F_SETFD, fcntl(fd, F_GETFD) | FD_CLOEXEC)
}

private func makePipe(_ executable: String) throws -> (read: Int32, write: Int32) {
    var fds: [Int32] = [-1, -1]
    guard pipe(&fds) == 0 else { throw ProcessError.spawnFailed(executable: executable, errno: errno) }
    setCloseOnExec(fds[0])
    setCloseOnExec(fds[1])
    return (fds[0], fds[1])
}

func resolveExecutable(_ name: String, environment: [String: String]?) throws -> String {
    if name.contains("/") {
        guard access(name, X_OK) == 0 else { throw ProcessError.executableNotFound(name) }
        return name
    }
    var searchPaths: [String] = []
    for pathVariable in [environment?["PATH"], ProcessInfo.processInfo.environment["PATH"], "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin"] {
        if let pathVariable { searchPaths += pathVariable.split(separator: ":").map(String.init) }
    }
    for directory in searchPaths where !directory.isEmpty {
        let candidate = directory + "/" + name
        var info = stat()
        if access(candidate, X_OK) == 0, stat(candidate, &info) == 0, (info.st_mode & S_IFMT) != S_IFDIR {
            return candidate
        }
    }
    throw ProcessError.executableNotFound(name)
}

private typealias FileActions = Platform.SpawnFileActions
private typealias SpawnAttributes = Platform.SpawnAttributes

// Not exported by the Swift Glibc module (they are behind _GNU_SOURCE), so look them up at run time.
private typealias AddChdir = @convention(c) (UnsafeMutablePointer<FileActions>, UnsafePointer<CChar>) -> Int32
private typealias AddCloseFrom = @convention(c) (UnsafeMutablePointer<FileActions>, Int32) -> Int32

private func lookupSymbol<T>(_ name: String, as type: T.Type) -> T? {
    guard let handle = dlopen(nil, RTLD_NOW), let symbol = dlsym(handle, name) else { return nil }
    return unsafeBitCast(symbol, to: type)
}

private func spawn(
    path: String, displayName: String, arguments: [String], environment: [String: String]?,
    stdinFD: Int32, stdoutFD: Int32, stderrFD: Int32, currentDirectory: String?, newSession: Bool
) throws -> pid_t {
    var actions = FileActions()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    var attributes = SpawnAttributes()
    posix_spawnattr_init(&attributes)
    defer { posix_spawnattr_destroy(&attributes) }

    posix_spawn_file_actions_adddup2(&actions, stdinFD, 0)
    posix_spawn_file_actions_adddup2(&actions, stdoutFD, 1)
    posix_spawn_file_actions_adddup2(&actions, stderrFD, 2)
    if let currentDirectory {
        guard let addChdir = lookupSymbol("posix_spawn_file_actions_addchdir_np", as: AddChdir.self) else {
            throw ProcessError.spawnFailed(executable: displayName, errno: ENOSYS)
        }
        _ = addChdir(&actions, currentDirectory)
    }
    // Don't leak unrelated descriptors (e.g. sockets of other tests) into children.
    if let addCloseFrom = lookupSymbol("posix_spawn_file_actions_addclosefrom_np", as: AddCloseFrom.self) {
        _ = addCloseFrom(&actions, 3)
    }

    // Own process group (so a timeout can kill grandchildren too) or own session (detached).
    let setSession = Platform.spawnSetSessionFlag
    var flags = Int32(POSIX_SPAWN_SETSIGDEF) | Int32(POSIX_SPAWN_SETSIGMASK)
    flags |= newSession ? setSession : Int32(POSIX_SPAWN_SETPGROUP)
    posix_spawnattr_setflags(&attributes, Int16(truncatingIfNeeded: flags))
    posix_spawnattr_setpgroup(&attributes, 0)
    var defaultSignals = sigset_t()
    sigemptyset(&defaultSignals)
    for signal in [SIGPIPE, SIGCHLD, SIGINT, SIGQUIT, SIGTERM, SIGHUP, SIGUSR1, SIGUSR2, SIGALRM] {
        sigaddset(&defaultSignals, signal)
    }
    posix_spawnattr_setsigdefault(&attributes, &defaultSignals)
    var emptyMask = sigset_t()
    sigemptyset(&emptyMask)
    posix_spawnattr_setsigmask(&attributes, &emptyMask)

    // argv[0] is the full path: PostgreSQL programs locate their siblings (initdb -> postgres) from it.
    let argv: [UnsafeMutablePointer<CChar>?] = ([path] + arguments).map { strdup($0) } + [nil]
    defer { argv.forEach { free($0) } }
    let env = environment ?? ProcessInfo.processInfo.environment
    let envp: [UnsafeMutablePointer<CChar>?] = env.map { strdup("\($0.key)=\($0.value)") } + [nil]
    defer { envp.forEach { free($0) } }

    var pid: pid_t = 0
    let rc = posix_spawn(&pid, path, &actions, &attributes, argv, envp)
    guard rc == 0 else { throw ProcessError.spawnFailed(executable: displayName, errno: rc) }
    return pid
}
