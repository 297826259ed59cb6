import HyperMeshCore

/// The seccomp filter every container gets. `crun spec` writes none, so this is Docker's approach in short: allow by
/// default and refuse (EPERM) what a container has no business calling — loading kernel code, changing the
/// host's clock or swap, rebooting, new mounts and namespaces, keyrings, BPF and perf, handle-based opens
/// (the "shocker" escape), `ptrace` of what is not its own.
enum SeccompProfile {
    static let refused = [
        "acct", "add_key", "bpf", "clock_adjtime", "clock_settime", "create_module", "delete_module", "finit_module",
        "fsconfig", "fsmount", "fsopen", "fspick", "get_kernel_syms", "init_module", "ioperm", "iopl", "kcmp", "kexec_file_load",
        "kexec_load", "keyctl", "lookup_dcookie", "mount", "mount_setattr", "move_mount", "name_to_handle_at", "nfsservctl",
        "open_by_handle_at", "open_tree", "perf_event_open", "pivot_root", "process_vm_readv", "process_vm_writev", "ptrace",
        "query_module", "quotactl", "reboot", "request_key", "setns", "settimeofday", "swapoff", "swapon", "sysfs",
        "umount", "umount2", "unshare", "uselib", "userfaultfd", "vhangup",
    ]

    static let standard: JSONValue = .object([
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": [.object(["names": .array(refused.map { .string($0) }), "action": "SCMP_ACT_ERRNO", "errnoRet": 1])],
    ])
}
