using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.JwtBearer;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Microsoft.Identity.Web;
using Microsoft.IdentityModel.Validators;

namespace GenerateCT.Node.Security;

/// <summary>
/// JWT bearer authentication through Microsoft.Identity.Web (Entra ID app registration, or another
/// OIDC provider through Authority) and one authorization policy per role set.
/// </summary>
internal static class NodeAuthentication
{
    /// <summary>Named HttpClient Microsoft.Identity.Web's issuer validator fetches metadata with.</summary>
    private const string IssuerMetadataClient = "gct-identity-issuer";

    /// <remarks>
    /// Which scheme is registered depends on whether Node:Identity names a client; the rest of the
    /// section is read, validated and used through <c>IOptions&lt;NodeOptions&gt;</c> when the node starts.
    /// </remarks>
    public static void AddNodeAuthentication(this WebApplicationBuilder builder)
    {
        var services = builder.Services;
        var identity = builder.Configuration.GetSection(NodeIdentityOptions.Section).Get<NodeIdentityOptions>() ?? new NodeIdentityOptions();
        if (identity.IsConfigured)
        {
            services.AddAuthentication(JwtBearerDefaults.AuthenticationScheme)
                .AddMicrosoftIdentityWebApi(builder.Configuration.GetSection(NodeIdentityOptions.Section), JwtBearerDefaults.AuthenticationScheme);

            services.AddHttpClient(IssuerMetadataClient)
                .ConfigurePrimaryHttpMessageHandler(sp => IssuerTrust.From(sp.GetRequiredService<IOptions<NodeOptions>>().Value.Identity)?.CreateHandler() ?? new SocketsHttpHandler());

            services.Configure<AadIssuerValidatorOptions>(o => o.HttpClientName = IssuerMetadataClient);
            services.AddOptions<JwtBearerOptions>(JwtBearerDefaults.AuthenticationScheme).Configure<IOptions<NodeOptions>>((o, node) =>
            {
                // Claims keep their JWT names (roles, oid, tid, preferred_username), as Entra ID documents them.
                o.MapInboundClaims = false;
                o.TokenValidationParameters.RoleClaimType = "roles";
                o.TokenValidationParameters.NameClaimType = "preferred_username";
                if (IssuerTrust.From(node.Value.Identity) is { } trust)
                {
                    o.BackchannelHttpHandler = trust.CreateHandler();
                }
            });
        }
        else
        {
            services.AddAuthentication(NoIdentityProviderHandler.SchemeName)
                .AddScheme<AuthenticationSchemeOptions, NoIdentityProviderHandler>(NoIdentityProviderHandler.SchemeName, null);
        }

        services.AddAuthorization(o =>
        {
            foreach (var (policy, roles) in NodePolicies.Roles)
            {
                o.AddPolicy(policy, p => p.RequireAuthenticatedUser().RequireRole(roles));
            }
        });
    }
}

/// <summary>
/// The scheme of a node with no identity provider configured (a fresh install): nobody is
/// authenticated, so every call except health is answered Unauthenticated until Node:Identity is set.
/// </summary>
internal sealed class NoIdentityProviderHandler(IOptionsMonitor<AuthenticationSchemeOptions> options, ILoggerFactory logger, UrlEncoder encoder)
    : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
{
    public const string SchemeName = "NoIdentityProvider";

    protected override Task<AuthenticateResult> HandleAuthenticateAsync() =>
        Task.FromResult(AuthenticateResult.Fail("no identity provider is configured on this node (set Node:Identity:ClientId and Instance/TenantId or Authority)"));
}
