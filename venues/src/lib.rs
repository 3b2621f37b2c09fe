//! PropBot venue adapters: Binance USDⓈ-M and OKX v5 wire DTOs, book sync, signing,
//! rate-limit headers, dead-man switches and reconciliation. The market-data part is
//! pure and IO-free; connections come with the live adapters issue.
