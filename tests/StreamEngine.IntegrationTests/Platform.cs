// The integration tests drive the real servers of this machine (librdkafka, chDB, nats-server, Chromium): Linux only.
[assembly: System.Runtime.Versioning.SupportedOSPlatform("linux")]
