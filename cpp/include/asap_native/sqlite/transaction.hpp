// RAII write transaction.
#pragma once

namespace asap_native::sqlite {

class Connection;

/// BEGIN IMMEDIATE on construction; ROLLBACK on destruction unless commit() ran.
class Transaction {
public:
    explicit Transaction(Connection& connection);
    ~Transaction();
    Transaction(const Transaction&) = delete;
    Transaction& operator=(const Transaction&) = delete;

    /// Commits; afterwards the destructor does nothing.
    void commit();

private:
    Connection& connection_;
    bool open_ = true;
};

}  // namespace asap_native::sqlite
