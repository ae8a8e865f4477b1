using System.Runtime.InteropServices;

namespace StreamEngine.ClickHouse.Embedded;

/// <summary>Owns a <c>chdb_connection*</c>; releasing it calls <c>chdb_close_conn</c>.</summary>
internal sealed class ChDbConnectionHandle : SafeHandle
{
    public ChDbConnectionHandle()
        : base(IntPtr.Zero, ownsHandle: true)
    {
    }

    public override bool IsInvalid => handle == IntPtr.Zero;

    /// <summary>The <c>chdb_connection</c> the query functions take (the pointer this handle points at).</summary>
    public IntPtr Connection => Marshal.ReadIntPtr(handle);

    protected override bool ReleaseHandle()
    {
        ChDbNative.chdb_close_conn(handle);
        return true;
    }
}

/// <summary>Owns a <c>chdb_result*</c>; releasing it calls <c>chdb_destroy_query_result</c>.</summary>
internal sealed class ChDbResultHandle : SafeHandle
{
    public ChDbResultHandle()
        : base(IntPtr.Zero, ownsHandle: true)
    {
    }

    public override bool IsInvalid => handle == IntPtr.Zero;

    protected override bool ReleaseHandle()
    {
        ChDbNative.chdb_destroy_query_result(handle);
        return true;
    }
}
