using System.Net.Http.Headers;
using System.Text;

namespace StreamEngine.TestUtilities;

/// <summary>HTTP Basic credentials, as ClickHouse clients send them to the endpoint.</summary>
public static class BasicAuth
{
    public static AuthenticationHeaderValue Header(string user, string password) =>
        new("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"{user}:{password}")));
}
