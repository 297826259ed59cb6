import HyperMeshCore

extension KindSchema {
    static let workload = KindSchema(
        kind: .workload,
        summary: "Containers to run in a claim's limits, started by crun and kept running.",
        spec: ObjectSchema([
            Field("claim", .string(.dnsLabel), required: true, "The claim it runs in: its cgroups hold every replica."),
            Field("image", .string(.imageReference), required: true,
                  "An image of the local store (id, id prefix or name, as `get images` shows them), or file:PATH, an OCI "
                + "image layout directory or a docker save tarball that is imported first."),
            Field("command", .array(.string(.text), minimumCount: 1), "Replaces the image's entrypoint."),
            Field("args", .array(.string(.anyText), minimumCount: 1), "Replaces the image's command (its arguments)."),
            Field("env", .array(.object(ObjectSchema([
                Field("name", .string(.environmentName), required: true, "The variable's name."),
                Field("value", .string(.anyText), required: true, "Its value."),
            ])), minimumCount: 1), "Environment variables, over the image's."),
            Field("workingDir", .string(.absolutePath), "The process's working directory (default the image's)."),
            Field("user", .string(.userSpec), "uid or uid:gid the process runs as (default the image's, else 0)."),
            Field("ports", .array(.object(ObjectSchema([
                Field("containerPort", .integer(minimum: 1, maximum: 65535), required: true, "The port the process listens on."),
                Field("protocol", .string(.oneOf(["tcp", "udp"])), "tcp (default) or udp."),
                Field("name", .string(.dnsLabel), "A name for the port."),
            ])), minimumCount: 1), "Ports consumers may reach through the mesh (recorded; not yet forwarded)."),
            Field("mounts", .array(.object(ObjectSchema([
                Field("path", .string(.absolutePath), required: true, "Where the claim's volume appears in the container."),
                Field("subPath", .string(.relativePath), "A directory inside the volume to mount instead of all of it."),
                Field("readOnly", .boolean, "Mount it read-only (default false)."),
            ])), minimumCount: 1), "The claim's storage volume, bind-mounted."),
            Field("readOnlyRootFilesystem", .boolean, "Keep the image's root read-only (default true; /tmp is a tmpfs)."),
            Field("hostNetwork", .boolean, "Share the host's network instead of a namespace of its own (default false)."),
            Field("restartPolicy", .string(.oneOf(["Always", "OnFailure", "Never"])),
                  "When an exited replica is started again (default Always), after a back-off of 10s doubling to 5m, "
                + "reset once it ran 10m."),
            Field("replicas", .integer(minimum: 0, maximum: 1000), "How many containers, each its own, in the same claim (default 1)."),
            Field("terminationGracePeriod", .duration, "Between SIGTERM and SIGKILL when a replica is stopped (default 10s)."),
        ])
    )
}
