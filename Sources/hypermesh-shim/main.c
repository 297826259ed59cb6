// hypermesh-shim: the small process that stays beside one container for its whole life, as conmon does
// for CRI-O. The agent starts it and may die or restart at any time; the shim does not care:
//
//   1. it detaches (a new session; the agent's spawn returns at once) and becomes a child subreaper;
//   2. enters the runtime's mount namespace when one is given (on hosts with hybrid cgroups crun needs a
//      view of /sys/fs/cgroup without the empty v2 tree) and mounts the replica's overlay rootfs there;
//   3. runs `crun create` and `crun start` with the container's stdout and stderr on pipes it reads,
//      writing them to a log file capped by size (rotated: LOG, LOG.1 … LOG.N) and, when asked, to journald
//      with the given fields;
//   4. reaps the container's init (a child subreaper gets it), reads the container cgroup's OOM-kill counter,
//      runs `crun delete`, writes the exit status to a file (atomically: temp + rename), unmounts the rootfs
//      and exits.
//
// Single-threaded C on purpose: setns(CLONE_NEWNS) needs a single-threaded caller, and a hundred
// replicas cost a hundred of these (about 1 MB each), not a hundred Swift runtimes.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAXIMUM_FIELDS 16

struct options {
    const char *crun, *root, *id, *bundle, *log, *exit_file, *pid_file, *shim_pid_file, *mount_namespace;
    const char *overlay_lower, *overlay_upper, *overlay_work, *oom_events;
    long long log_maximum_bytes;
    int log_files;
    const char *journal_socket;
    const char *fields[MAXIMUM_FIELDS];
    int field_count;
};

static long long now_milliseconds(void) {
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    return (long long)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

static void fail(const char *exit_file, const char *format, ...) {
    char message[1024];
    va_list arguments;
    va_start(arguments, format);
    vsnprintf(message, sizeof message, format, arguments);
    va_end(arguments);
    fprintf(stderr, "hypermesh-shim: %s\n", message);
    if (exit_file) {
        // The agent reads this as StartFailed with the message.
        char temporary[4096];
        snprintf(temporary, sizeof temporary, "%s.tmp", exit_file);
        FILE *file = fopen(temporary, "w");
        if (file) {
            fprintf(file, "{\"exitCode\":-1,\"startError\":\"");
            for (const char *c = message; *c; c++) {
                if (*c == '"' || *c == '\\') fputc('\\', file);
                if ((unsigned char)*c >= 0x20) fputc(*c, file);
            }
            fprintf(file, "\",\"finishedAtMilliseconds\":%lld}\n", now_milliseconds());
            fclose(file);
            rename(temporary, exit_file);
        }
    }
    exit(1);
}

static void usage(void) {
    fprintf(stderr, "usage: hypermesh-shim --crun PATH --root DIR --id ID --bundle DIR --log FILE --exit FILE "
                    "--pid-file FILE --shim-pid-file FILE [--mount-namespace FILE] [--overlay LOWER UPPER WORK] "
                    "[--log-max BYTES] [--log-files N] [--journal SOCKET] [--oom-events FILE] [--field NAME=VALUE]...\n");
    exit(2);
}

static void parse(int argc, char **argv, struct options *options) {
    memset(options, 0, sizeof *options);
    options->log_maximum_bytes = 10LL << 20;
    options->log_files = 2;
    for (int i = 1; i < argc; i++) {
        const char *name = argv[i];
        const char *value = i + 1 < argc ? argv[i + 1] : NULL;
        if (!value) usage();
        if (!strcmp(name, "--crun")) options->crun = value;
        else if (!strcmp(name, "--root")) options->root = value;
        else if (!strcmp(name, "--id")) options->id = value;
        else if (!strcmp(name, "--bundle")) options->bundle = value;
        else if (!strcmp(name, "--log")) options->log = value;
        else if (!strcmp(name, "--exit")) options->exit_file = value;
        else if (!strcmp(name, "--pid-file")) options->pid_file = value;
        else if (!strcmp(name, "--shim-pid-file")) options->shim_pid_file = value;
        else if (!strcmp(name, "--mount-namespace")) options->mount_namespace = value;
        else if (!strcmp(name, "--log-max")) options->log_maximum_bytes = atoll(value);
        else if (!strcmp(name, "--log-files")) options->log_files = atoi(value);
        else if (!strcmp(name, "--journal")) options->journal_socket = value;
        else if (!strcmp(name, "--oom-events")) options->oom_events = value;
        else if (!strcmp(name, "--field")) {
            if (options->field_count == MAXIMUM_FIELDS) usage();
            options->fields[options->field_count++] = value;
        } else if (!strcmp(name, "--overlay")) {
            if (i + 3 >= argc) usage();
            options->overlay_lower = argv[i + 1];
            options->overlay_upper = argv[i + 2];
            options->overlay_work = argv[i + 3];
            i += 2;
        } else usage();
        i++;
    }
    if (!options->crun || !options->root || !options->id || !options->bundle || !options->log || !options->exit_file ||
        !options->pid_file || !options->shim_pid_file || options->log_maximum_bytes < 4096 || options->log_files < 1 ||
        options->log_files > 10)
        usage();
}

// MARK: - The log: a file capped by size, rotated, and journald

static int open_log(const char *path) { return open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640); }

static int rotate(const struct options *options, int log) {
    char from[4096], to[4096];
    close(log);
    for (int n = options->log_files - 1; n >= 1; n--) {
        if (n == 1) snprintf(from, sizeof from, "%s", options->log);
        else snprintf(from, sizeof from, "%s.%d", options->log, n - 1);
        snprintf(to, sizeof to, "%s.%d", options->log, n);
        rename(from, to);
    }
    if (options->log_files == 1) {
        int truncated = open(options->log, O_WRONLY | O_TRUNC | O_CLOEXEC);
        if (truncated >= 0) close(truncated);
    }
    return open_log(options->log);
}

// One journald native-protocol datagram per line: FIELD=value pairs, newline separated.
static void journal_line(const struct options *options, int socket_fd, int priority, const char *line, size_t length) {
    if (socket_fd < 0 || length == 0) return;
    char buffer[8192];
    int used = snprintf(buffer, sizeof buffer, "PRIORITY=%d\nSYSLOG_IDENTIFIER=hypermesh-workload\n", priority);
    for (int i = 0; i < options->field_count && used < (int)sizeof buffer; i++)
        used += snprintf(buffer + used, sizeof buffer - used, "%s\n", options->fields[i]);
    if (used >= (int)sizeof buffer) return;
    size_t room = sizeof buffer - used - 10;
    if (length > room) length = room;
    memcpy(buffer + used, "MESSAGE=", 8);
    memcpy(buffer + used + 8, line, length);
    buffer[used + 8 + length] = '\n';
    send(socket_fd, buffer, used + 9 + length, MSG_NOSIGNAL);
}

static int connect_journal(const char *path) {
    if (!path) return -1;
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    struct sockaddr_un address = {.sun_family = AF_UNIX};
    snprintf(address.sun_path, sizeof address.sun_path, "%s", path);
    if (connect(fd, (struct sockaddr *)&address, sizeof address) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

// One stream's partial line, carried between reads.
struct stream {
    int fd;
    const char *name;
    int priority;
    char line[16384];
    size_t length;
};

struct log_file {
    int fd;
    long long size;
};

// A log line as the CRI logging format writes it: `TIME STREAM MESSAGE\n`, TIME in RFC 3339 UTC with nanoseconds,
// so `hypermesh logs --since` can cut by time and tell stdout from stderr.
static void emit(const struct options *options, struct log_file *log, int journal, struct stream *stream) {
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    struct tm utc;
    gmtime_r(&now.tv_sec, &utc);
    char prefix[64];
    int prefix_length = (int)strftime(prefix, sizeof prefix, "%Y-%m-%dT%H:%M:%S", &utc);
    prefix_length += snprintf(prefix + prefix_length, sizeof prefix - prefix_length, ".%09ldZ %s ", now.tv_nsec, stream->name);
    long long bytes = prefix_length + (long long)stream->length + 1;
    if (log->fd >= 0 && log->size + bytes > options->log_maximum_bytes && log->size > 0) {
        log->fd = rotate(options, log->fd);
        log->size = 0;
    }
    if (log->fd >= 0) {
        struct iovec parts[3] = {{prefix, (size_t)prefix_length}, {stream->line, stream->length}, {"\n", 1}};
        if (writev(log->fd, parts, 3) == bytes) log->size += bytes;
    }
    journal_line(options, journal, stream->priority, stream->line, stream->length);
    stream->length = 0;
}

static void copy_output(const struct options *options, int output_fd, int error_fd) {
    struct log_file log = {open_log(options->log), 0};
    struct stat status;
    if (log.fd >= 0 && fstat(log.fd, &status) == 0) log.size = status.st_size;
    int journal = connect_journal(options->journal_socket);
    static struct stream streams[2];
    streams[0] = (struct stream){.fd = output_fd, .name = "stdout", .priority = 6};
    streams[1] = (struct stream){.fd = error_fd, .name = "stderr", .priority = 3};
    char buffer[65536];
    int open_streams = 2;
    while (open_streams > 0) {
        struct pollfd waiting[2] = {{streams[0].fd, POLLIN, 0}, {streams[1].fd, POLLIN, 0}};
        if (poll(waiting, 2, -1) < 0) {
            if (errno == EINTR) continue;
            break;
        }
        for (int s = 0; s < 2; s++) {
            struct stream *stream = &streams[s];
            if (stream->fd < 0 || !(waiting[s].revents & (POLLIN | POLLHUP | POLLERR))) continue;
            ssize_t count = read(stream->fd, buffer, sizeof buffer);
            if (count < 0 && errno == EINTR) continue;
            if (count <= 0) {
                if (stream->length > 0) emit(options, &log, journal, stream);
                close(stream->fd);
                stream->fd = -1;
                open_streams--;
                continue;
            }
            for (ssize_t i = 0; i < count; i++) {
                if (buffer[i] == '\n') {
                    emit(options, &log, journal, stream);
                    continue;
                }
                stream->line[stream->length++] = buffer[i];
                if (stream->length == sizeof stream->line) emit(options, &log, journal, stream);  // a very long line, split
            }
        }
    }
    if (log.fd >= 0) close(log.fd);
    if (journal >= 0) close(journal);
}

// MARK: - The container

// Atomically (temp + rename); `durable` adds an fsync, for what must outlive a crash (the exit status).
static void write_small_file(const char *path, const char *text, int durable) {
    char temporary[4096];
    snprintf(temporary, sizeof temporary, "%s.tmp", path);
    int fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return;
    ssize_t ignored = write(fd, text, strlen(text));
    (void)ignored;
    if (durable) fsync(fd);
    close(fd);
    rename(temporary, path);
}

static void enter_namespace_and_mount(const struct options *options, char *rootfs, size_t rootfs_size) {
    if (options->mount_namespace) {
        int fd = open(options->mount_namespace, O_RDONLY | O_CLOEXEC);
        if (fd < 0) fail(options->exit_file, "cannot open mount namespace %s: %s", options->mount_namespace, strerror(errno));
        if (setns(fd, CLONE_NEWNS) < 0) fail(options->exit_file, "cannot enter mount namespace %s: %s", options->mount_namespace, strerror(errno));
        close(fd);
    }
    snprintf(rootfs, rootfs_size, "%s/rootfs", options->bundle);
    if (!options->overlay_lower) return;
    char data[8192];
    int length = snprintf(data, sizeof data, "lowerdir=%s,upperdir=%s,workdir=%s", options->overlay_lower,
                          options->overlay_upper, options->overlay_work);
    if (length >= (int)sizeof data) fail(options->exit_file, "overlay options are longer than %zu bytes", sizeof data);
    umount2(rootfs, MNT_DETACH);  // a mount left by a shim that died before its end
    if (mount("overlay", rootfs, "overlay", 0, data) < 0)
        fail(options->exit_file, "cannot mount the overlay rootfs at %s: %s", rootfs, strerror(errno));
}

// Runs `crun --root ROOT --log=… ARGUMENTS…` with stdout and stderr on the given descriptors.
static pid_t spawn_crun(const struct options *options, int output, int errors, const char *const arguments[]) {
    pid_t child = fork();
    if (child != 0) return child;
    int null = open("/dev/null", O_RDONLY);
    dup2(null, 0);
    dup2(output, 1);
    dup2(errors, 2);
    for (int fd = 3; fd < 1024; fd++) close(fd);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    char crun_log[4096];
    snprintf(crun_log, sizeof crun_log, "--log=file:%s/crun.log", options->bundle);
    const char *argv[16] = {options->crun, "--root", options->root, crun_log, "--log-format=json"};
    int count = 5;
    for (int i = 0; arguments[i] && count < 15; i++) argv[count++] = arguments[i];
    argv[count] = NULL;
    execv(options->crun, (char *const *)argv);
    fprintf(stderr, "hypermesh-shim: cannot run %s: %s\n", options->crun, strerror(errno));
    _exit(127);
}

static int wait_for(pid_t pid) {
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// `oom_kill N` from memory.oom_control (v1) or memory.events (v2) of the container's own cgroup, read before
// crun deletes the group: on v1 the kernel counts an OOM kill in the victim's group, not in the claim's.
static long long read_oom_kills(const char *path) {
    if (!path) return 0;
    FILE *file = fopen(path, "r");
    if (!file) return 0;
    char key[64];
    long long value, kills = 0;
    while (fscanf(file, "%63s %lld", key, &value) == 2)
        if (!strcmp(key, "oom_kill")) kills = value;
    fclose(file);
    return kills;
}

static pid_t read_pid(const char *path) {
    FILE *file = fopen(path, "r");
    if (!file) return -1;
    long pid = -1;
    if (fscanf(file, "%ld", &pid) != 1) pid = -1;
    fclose(file);
    return (pid_t)pid;
}

int main(int argc, char **argv) {
    struct options options;
    parse(argc, argv, &options);
    // Detach: the agent's spawn returns as soon as this first process exits, and the shim lives on in a
    // session of its own, so neither the agent's death nor its terminal's signals reach it.
    pid_t daemon = fork();
    if (daemon < 0) fail(options.exit_file, "cannot fork: %s", strerror(errno));
    if (daemon > 0) {
        // The pid file is written before the agent's spawn returns: an agent that looked in between would see
        // neither a shim nor a container, take the replica for lost and remove its bundle under crun.
        char text[64];
        snprintf(text, sizeof text, "%d\n", daemon);
        write_small_file(options.shim_pid_file, text, 0);
        return 0;
    }
    setsid();
    signal(SIGPIPE, SIG_IGN);
    signal(SIGHUP, SIG_IGN);
    // The container's init re-parents to us once `crun create` exits, so its exit status is ours to read.
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    char rootfs[4096];
    enter_namespace_and_mount(&options, rootfs, sizeof rootfs);

    int output[2], errors[2];
    if (pipe2(output, O_CLOEXEC) < 0 || pipe2(errors, O_CLOEXEC) < 0) fail(options.exit_file, "cannot make a pipe: %s", strerror(errno));
    // create, then start: between the two the container's cgroup exists and its init waits, and after its end
    // the cgroup is still there to read the OOM counter from until `crun delete`.
    const char *create[] = {"create", "--bundle", options.bundle, "--pid-file", options.pid_file, options.id, NULL};
    int exit_code = wait_for(spawn_crun(&options, output[1], errors[1], create));
    pid_t init = -1;
    if (exit_code == 0) {
        init = read_pid(options.pid_file);
        const char *start[] = {"start", options.id, NULL};
        exit_code = wait_for(spawn_crun(&options, output[1], errors[1], start));
        if (exit_code != 0 && init > 0) kill(init, SIGKILL);
    } else {
        unlink(options.pid_file);  // never ran: the agent reads this as StartFailed with crun's message
    }
    close(output[1]);
    close(errors[1]);
    copy_output(&options, output[0], errors[0]);

    // Reap the container's init and whatever else was re-parented to us.
    int status = 0;
    pid_t reaped;
    while ((reaped = waitpid(-1, &status, 0)) > 0 || (reaped < 0 && errno == EINTR)) {
        if (reaped > 0 && reaped == init) exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    long long oom_kills = read_oom_kills(options.oom_events);
    const char *delete[] = {"delete", "--force", options.id, NULL};
    int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
    wait_for(spawn_crun(&options, null, null, delete));
    if (options.overlay_lower) umount2(rootfs, MNT_DETACH);
    char result[256];
    snprintf(result, sizeof result, "{\"exitCode\":%d,\"oomKills\":%lld,\"finishedAtMilliseconds\":%lld}\n", exit_code, oom_kills,
             now_milliseconds());
    write_small_file(options.exit_file, result, 1);
    unlink(options.shim_pid_file);
    return 0;
}
