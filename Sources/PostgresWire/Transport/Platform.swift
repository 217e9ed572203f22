#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#else
#error("PostgresWire builds on Linux (Glibc) and Apple platforms (Darwin)")
#endif

/// The one place that names the C library module (`Glibc` on Linux, `Darwin` on Apple platforms).
///
/// It holds the calls whose spelling or availability differs between the two (`SOCK_STREAM` is an
/// enum on Glibc and an `Int32` on Darwin; Darwin has no `MSG_NOSIGNAL`, `SOCK_CLOEXEC` or
/// `TCP_KEEPIDLE`), and the C functions whose names the calling types shadow with methods of their
/// own (`close`, `read`, `write`, `connect`, `listen`, `poll`, `send`, `kill`, `exit`), which
/// would otherwise need a module-qualified spelling such as `Glibc.close`. The other files get the
/// POSIX functions that are spelled alike on both systems (`socket`, `fcntl`, `strerror`, `errno`,
/// `getaddrinfo`, ...) through Foundation, which re-exports the C library on both.
///
/// `package`: the `pgwire` CLI, TestSupport and the tests use it too. CI (`.ci/run`) fails when
/// `Glibc.` or `import Glibc` appears in any other Swift file.
package enum Platform {
    /// `SOCK_STREAM` as `socket(2)` and `addrinfo.ai_socktype` take it.
    package static var socketStream: Int32 {
        #if canImport(Glibc)
        Int32(SOCK_STREAM.rawValue)
        #else
        SOCK_STREAM
        #endif
    }

    /// The process environment (`environ`; Darwin's libc does not export it: `_NSGetEnviron()`),
    /// a NULL-terminated array of `NAME=value` strings.
    package static var environment: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?> {
        #if canImport(Glibc)
        environ
        #else
        _NSGetEnviron().pointee!
        #endif
    }

    /// The TCP option for the idle time before the first keepalive probe (`keepalives_idle`):
    /// `TCP_KEEPIDLE` on Linux, `TCP_KEEPALIVE` on Darwin.
    package static var tcpKeepIdle: Int32 {
        #if canImport(Glibc)
        TCP_KEEPIDLE
        #else
        TCP_KEEPALIVE
        #endif
    }

    /// `socket(2)` for a socket that never raises SIGPIPE through `Platform.send` (Darwin: the
    /// socket gets `SO_NOSIGPIPE`; Linux: `send` passes `MSG_NOSIGNAL`), close-on-exec when asked
    /// (Linux: atomically with `SOCK_CLOEXEC`; Darwin, which lacks it: `FD_CLOEXEC` right after).
    package static func socket(_ family: Int32, _ type: Int32, _ proto: Int32, closeOnExec: Bool = false) -> Int32 {
        #if canImport(Glibc)
        let fd = Glibc.socket(family, type | (closeOnExec ? Int32(SOCK_CLOEXEC.rawValue) : 0), proto)
        #else
        let fd = Darwin.socket(family, type, proto)
        if fd >= 0 {
            if closeOnExec { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
            disableSigPipe(fd)
        }
        #endif
        return fd
    }

    /// `accept(2)`; the accepted socket never raises SIGPIPE through `Platform.send` either.
    package static func accept(_ fd: Int32, _ address: UnsafeMutablePointer<sockaddr>?, _ length: UnsafeMutablePointer<socklen_t>?) -> Int32 {
        #if canImport(Glibc)
        return Glibc.accept(fd, address, length)
        #else
        let client = Darwin.accept(fd, address, length)
        if client >= 0 { disableSigPipe(client) }
        return client
        #endif
    }

    /// Darwin: sets `SO_NOSIGPIPE` on a socket made elsewhere (`socketpair`, a descriptor handed
    /// in), so that writing to it after the peer left fails with EPIPE. Linux: nothing to do
    /// (`Platform.send` passes `MSG_NOSIGNAL`).
    package static func disableSigPipe(_ fd: Int32) {
        #if canImport(Darwin)
        var one: Int32 = 1
        _ = setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &one, socklen_t(MemoryLayout<Int32>.size))
        #endif
    }

    /// `send(2)` that reports a peer that went away as EPIPE instead of raising SIGPIPE (Darwin:
    /// for sockets made by `Platform.socket`/`Platform.accept` or passed to `disableSigPipe`).
    package static func send(_ fd: Int32, _ buffer: UnsafeRawPointer?, _ count: Int) -> Int {
        #if canImport(Glibc)
        return Glibc.send(fd, buffer, count, Int32(MSG_NOSIGNAL))
        #else
        return Darwin.send(fd, buffer, count, 0)
        #endif
    }

    /// `Platform.send` that never blocks (MSG_DONTWAIT): EAGAIN when the socket cannot take more.
    package static func sendNonBlocking(_ fd: Int32, _ buffer: UnsafeRawPointer?, _ count: Int) -> Int {
        #if canImport(Glibc)
        return Glibc.send(fd, buffer, count, Int32(MSG_NOSIGNAL) | Int32(MSG_DONTWAIT))
        #else
        return Darwin.send(fd, buffer, count, MSG_DONTWAIT)
        #endif
    }

    /// `recv(2)` with no flags.
    package static func recv(_ fd: Int32, _ buffer: UnsafeMutableRawPointer?, _ count: Int) -> Int {
        #if canImport(Glibc)
        return Glibc.recv(fd, buffer, count, 0)
        #else
        return Darwin.recv(fd, buffer, count, 0)
        #endif
    }

    /// `read(2)`.
    package static func read(_ fd: Int32, _ buffer: UnsafeMutableRawPointer?, _ count: Int) -> Int {
        #if canImport(Glibc)
        return Glibc.read(fd, buffer, count)
        #else
        return Darwin.read(fd, buffer, count)
        #endif
    }

    /// `write(2)`.
    package static func write(_ fd: Int32, _ buffer: UnsafeRawPointer?, _ count: Int) -> Int {
        #if canImport(Glibc)
        return Glibc.write(fd, buffer, count)
        #else
        return Darwin.write(fd, buffer, count)
        #endif
    }

    /// `close(2)`.
    @discardableResult
    package static func close(_ fd: Int32) -> Int32 {
        #if canImport(Glibc)
        return Glibc.close(fd)
        #else
        return Darwin.close(fd)
        #endif
    }

    /// `connect(2)`.
    package static func connect(_ fd: Int32, _ address: UnsafePointer<sockaddr>?, _ length: socklen_t) -> Int32 {
        #if canImport(Glibc)
        return Glibc.connect(fd, address, length)
        #else
        return Darwin.connect(fd, address, length)
        #endif
    }

    /// `listen(2)`.
    package static func listen(_ fd: Int32, _ backlog: Int32) -> Int32 {
        #if canImport(Glibc)
        return Glibc.listen(fd, backlog)
        #else
        return Darwin.listen(fd, backlog)
        #endif
    }

    /// `poll(2)` (`nfds_t` is 64 bits on Glibc and 32 on Darwin).
    package static func poll(_ fds: UnsafeMutablePointer<pollfd>?, _ count: Int, _ timeoutMilliseconds: Int32) -> Int32 {
        #if canImport(Glibc)
        return Glibc.poll(fds, nfds_t(count), timeoutMilliseconds)
        #else
        return Darwin.poll(fds, nfds_t(count), timeoutMilliseconds)
        #endif
    }

    /// `kill(2)`.
    @discardableResult
    package static func kill(_ pid: pid_t, _ signal: Int32) -> Int32 {
        #if canImport(Glibc)
        return Glibc.kill(pid, signal)
        #else
        return Darwin.kill(pid, signal)
        #endif
    }

    /// `getrusage(RUSAGE_SELF)`: the CPU time and resources this process used so far.
    package static func processResourceUsage() -> rusage {
        var usage = rusage()
        #if canImport(Glibc)
        _ = getrusage(RUSAGE_SELF.rawValue, &usage)
        #else
        _ = getrusage(RUSAGE_SELF, &usage)
        #endif
        return usage
    }

    /// `exit(3)`: flushes stdio and ends the process.
    package static func exit(_ status: Int32) -> Never {
        #if canImport(Glibc)
        Glibc.exit(status)
        #else
        Darwin.exit(status)
        #endif
    }

    /// `clock_gettime(CLOCK_MONOTONIC)` in nanoseconds: operation durations (a vDSO call on Linux,
    /// cheaper than `DispatchTime.now()`).
    @inline(__always)
    package static func monotonicNanoseconds() -> UInt64 {
        var now = timespec()
        #if canImport(Glibc)
        _ = clock_gettime(CLOCK_MONOTONIC, &now)
        #else
        _ = clock_gettime(CLOCK_MONOTONIC, &now)
        #endif
        return UInt64(now.tv_sec) &* 1_000_000_000 &+ UInt64(now.tv_nsec)
    }

    /// A `stat` result's modification time (seconds, nanoseconds): `st_mtim` on Glibc,
    /// `st_mtimespec` on Darwin.
    package static func modificationTime(_ info: stat) -> (seconds: Int64, nanoseconds: Int64) {
        #if canImport(Glibc)
        (Int64(info.st_mtim.tv_sec), Int64(info.st_mtim.tv_nsec))
        #else
        (Int64(info.st_mtimespec.tv_sec), Int64(info.st_mtimespec.tv_nsec))
        #endif
    }
}
