using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.JwtBearer;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Builder;
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

    public static void AddNodeAuthentication(this WebApplicationBuilder builder, NodeOptions options)
    {
        var services = builder.Services;
        if (options.Identity.IsConfigured)
        {
            services.AddAuthentication(JwtBearerDefaults.AuthenticationScheme)
                .AddMicrosoftIdentityWebApi(builder.Configuration.GetSection(NodeIdentityOptions.Section), JwtBearerDefaults.AuthenticationScheme);

            var trust = IssuerTrust.From(options.Identity);
            var issuerClient = services.AddHttpClient(IssuerMetadataClient);
            if (trust is not null)
            {
                issuerClient.ConfigurePrimaryHttpMessageHandler(trust.CreateHandler);
            }

            services.Configure<AadIssuerValidatorOptions>(o => o.HttpClientName = IssuerMetadataClient);
            services.Configure<JwtBearerOptions>(JwtBearerDefaults.AuthenticationScheme, o =>
            {
                // Claims keep their JWT names (roles, oid, tid, preferred_username), as Entra ID documents them.
                o.MapInboundClaims = false;
                o.TokenValidationParameters.RoleClaimType = "roles";
                o.TokenValidationParameters.NameClaimType = "preferred_username";
                if (trust is not null)
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
