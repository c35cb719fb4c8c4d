// swift-tools-version:6.0
import PackageDescription

/// Swift 6 language mode, strict concurrency and `any` spelled out everywhere (STYLE.md).
let strict: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("NonisolatedNonsendingByDefault"),
]

let package = Package(
    name: "gateway",
    products: [
        .executable(name: "gateway", targets: ["Gateway"]),
        // A stand-in for the GitHub API, codeload, release storage and the Actions OIDC issuer (tests, demos).
        .executable(name: "github-standin", targets: ["GitHubStandIn"]),
    ],
    targets: [
        // Thin system-library shims. Macros Swift cannot import are re-exported as static inline functions.
        .systemLibrary(name: "COpenSSL", path: "Sources/COpenSSL", pkgConfig: "openssl",
                       providers: [.apt(["libssl-dev"])]),
        .systemLibrary(name: "CNghttp2", path: "Sources/CNghttp2", pkgConfig: "libnghttp2",
                       providers: [.apt(["libnghttp2-dev"])]),
        .systemLibrary(name: "CZlib", path: "Sources/CZlib", pkgConfig: "zlib",
                       providers: [.apt(["zlib1g-dev"])]),
        // xz and zstd: .deb control archives (read) and APT's Packages.xz (written).
        .systemLibrary(name: "CLzma", path: "Sources/CLzma", pkgConfig: "liblzma",
                       providers: [.apt(["liblzma-dev"])]),
        .systemLibrary(name: "CZstd", path: "Sources/CZstd", pkgConfig: "libzstd",
                       providers: [.apt(["libzstd-dev"])]),
        // GitHub's Markdown renderer for READMEs in the catalog (Pipeline/Text/Markdown.swift only).
        .systemLibrary(name: "CCmarkGFM", path: "Sources/CCmarkGFM",
                       providers: [.apt(["libcmark-gfm-dev", "libcmark-gfm-extensions-dev"])]),
        // epoll, eventfd, timerfd, accept4, sendfile: not exposed by Glibc without _GNU_SOURCE.
        .target(name: "CSystemShims", path: "Sources/CSystemShims", cSettings: [.define("_GNU_SOURCE")]),

        .target(name: "Pipeline", dependencies: ["CSystemShims", "COpenSSL", "CNghttp2", "CZlib", "CLzma", "CZstd", "CCmarkGFM"],
                swiftSettings: strict),
        .target(name: "Middlewares", dependencies: ["Pipeline"], swiftSettings: strict),
        .executableTarget(name: "Gateway", dependencies: ["Pipeline", "Middlewares"], swiftSettings: strict),
        .executableTarget(name: "GitHubStandIn", dependencies: ["Pipeline"], swiftSettings: strict),

        // posix_spawn with every other descriptor closed in the child, for the tests' subprocesses.
        .target(name: "CSpawn", path: "Tests/CSpawn", cSettings: [.define("_GNU_SOURCE")]),
        // A raw-frame HTTP/2 client for tests that must misbehave (floods, stalls, resets), and the
        // helpers the test targets share (loopback sockets, `eventually`).
        .target(name: "HTTP2TestClient", path: "Tests/HTTP2TestClient", swiftSettings: strict),
        .testTarget(name: "PipelineTests", dependencies: ["Pipeline", "HTTP2TestClient"], swiftSettings: strict),
        .testTarget(name: "MiddlewaresTests", dependencies: ["Pipeline", "Middlewares", "HTTP2TestClient"], swiftSettings: strict),
        .testTarget(name: "EndToEndTests", dependencies: ["Pipeline", "Middlewares", "Gateway", "GitHubStandIn", "HTTP2TestClient", "CSpawn"],
                    swiftSettings: strict),
    ]
)
