import Pipeline

/// Every type pipeline.json may name. New middleware and source types are added here.
public enum Builtins {
    public static let middlewareTypes: [MiddlewareType] = [
        AccessLog.type,
        TLSPolicy.type,
        Respond.type,
        Router.type,
        Files.type,
        MetricsEndpoint.type,
        Health.type,
        BasicAuth.type,
        BearerAuth.type,
        OIDCAuth.type,
        Upstream.type,
        Cache.type,
        TerraformRegistry.type,
        GitHubWebhook.type,
        OCIMirror.type,
        APTRepository.type,
        Catalog.type,
    ]

    public static let sourceTypes: [SourceType] = [
        DirectorySource.type,
        GitHubSource.type,
        OCISource.type,
    ]

    public static var registry: TypeRegistry { TypeRegistry(middlewares: middlewareTypes, sources: sourceTypes) }
}
